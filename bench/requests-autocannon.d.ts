// The part of autocannon's API that bench/requests-load.ts uses (the package ships no types).
declare module 'autocannon' {
  import type { EventEmitter } from 'node:events';

  interface AutocannonRequest {
    method?: string;
    path?: string;
    headers?: Record<string, string>;
    body?: string;
    /** Called before each request; answers the request to send. */
    setupRequest?: (request: Record<string, unknown>, context: Record<string, unknown>) => Record<string, unknown> | null | undefined;
  }

  interface AutocannonOptions {
    url: string;
    connections?: number;
    duration?: number;
    pipelining?: number;
    timeout?: number;
    requests?: AutocannonRequest[];
  }

  interface AutocannonHistogram {
    average: number;
    mean: number;
    total: number;
    p50: number;
    p99: number;
  }

  interface AutocannonResult {
    requests: AutocannonHistogram;
    latency: AutocannonHistogram;
    duration: number;
    errors: number;
    timeouts: number;
    non2xx: number;
  }

  /** The run: an emitter ('response' with client, status, bytes, milliseconds) and a promise of the result. */
  interface AutocannonInstance extends EventEmitter, PromiseLike<AutocannonResult> {}

  function autocannon(options: AutocannonOptions): AutocannonInstance;
  export default autocannon;
}
