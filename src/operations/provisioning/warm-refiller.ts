// The warm pool's background refiller: the server starts one (bootstrap's `warmPool` option). It
// refills every active postgres server at start, after each claim (kick) and every interval (which
// also retires warm databases a template change left behind), one server at a time, and never
// runs twice at once in a process; the per-server advisory lock keeps instances apart. stop()
// lets the clone under way finish (a CREATE DATABASE is not cut halfway) and starts no other.
import type { SiloContext } from '../../context.ts';
import { listServers } from '../../control-plane/server-records.ts';
import { describeError } from '../../base/errors.ts';
import { refillServer } from './warm-pool.ts';

const INTERVAL_MS = 60_000;

export interface WarmRefiller {
  /** Asks for a refill soon (after a claim); cheap to call often. */
  kick(): void;
  /** Resolves when the current refill pass, if any, has ended. */
  idle(): Promise<void>;
  stop(): Promise<void>;
}

export function startWarmRefiller(ctx: SiloContext, intervalMs = INTERVAL_MS): WarmRefiller {
  let running: Promise<void> | null = null;
  let again = false;
  let stopped = false;

  const pass = async () => {
    for (const server of await listServers(ctx)) {
      if (stopped) return;
      if (server.status !== 'active' || server.provider !== 'postgres') continue;
      await refillServer(ctx, server.id, () => stopped);
    }
  };

  const kick = () => {
    if (stopped || ctx.config.warmPool === 0) return;
    if (running) {
      again = true;
      return;
    }
    running = (async () => {
      do {
        again = false;
        await pass().catch((error: unknown) => ctx.log.warn({ error: describeError(error) }, 'warm pool refill failed'));
      } while (again && !stopped);
    })().finally(() => {
      running = null;
    });
  };

  const timer = setInterval(kick, intervalMs);
  timer.unref();
  kick();

  return {
    kick,
    async idle() {
      while (running) await running;
    },
    async stop() {
      stopped = true;
      clearInterval(timer);
      while (running) await running;
    },
  };
}
