// The Neon stand-in's computes: one TCP endpoint per project, in front of the local PostgreSQL, so
// that what Neon's proxy and computes do to a connection can be reproduced (the Neon API stand-in,
// test/support/neon-stand-in.ts, gives each project's connection URI this endpoint's host:port).
//
//   - TLS: Neon's proxy terminates TLS and routes by SNI (the endpoint id is the first label of the
//     host name; neon.com/docs/connect/connectivity-issues explains the SNI requirement). With
//     `tls`, an endpoint answers a client's SSLRequest with 'S' and terminates TLS with a
//     certificate made for `localhost`, recording the SNI it was given, then talks plain to the
//     local server. A client that sends no SSLRequest (the serverless driver through the local
//     WebSocket proxy, which speaks plain Postgres as Neon's wsproxy does behind its own TLS) is
//     passed through as it is.
//   - Scale to zero: Neon suspends a compute after 5 minutes of inactivity by default (the Free
//     plan cannot turn that off; neon.com/docs/introduction/scale-to-zero). Suspending closes the
//     compute's connections; a client sees FATAL 57P01 "terminating connection due to
//     administrator command". Here inactivity is "no byte either way for suspendAfterMs".
//   - Cold start: the next connection waits while the compute starts (Neon: typically a few
//     hundred milliseconds, sometimes seconds); here coldStartMs.
import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { type SecureContext, TLSSocket } from 'node:tls';

export interface ComputeSettings {
  /** The local PostgreSQL every compute forwards to. */
  pgHost: string;
  pgPort: number;
  /** Host name written in connection URIs (`localhost` with TLS: the certificate's name). */
  host: string;
  tls: SecureContext | undefined;
  suspendAfterMs: number;
  coldStartMs: number;
  /** Ends the compute's sessions on the local server (pg_terminate_backend): what suspend does. */
  terminateSessions(): Promise<void>;
}

const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;

export class Compute {
  state: 'active' | 'suspended' = 'active';
  /** SNI names presented by TLS clients, in order. */
  readonly serverNames: string[] = [];
  coldStarts = 0;
  /** How long the next start takes (a test may lengthen one start). */
  coldStartMs: number;
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private idleTimer: NodeJS.Timeout | undefined;
  private waking: Promise<void> | undefined;
  private closed = false;

  private constructor(private readonly settings: ComputeSettings) {
    this.coldStartMs = settings.coldStartMs;
    this.server = createServer((client) => {
      this.accept(client).catch(() => client.destroy());
    });
  }

  static async start(settings: ComputeSettings): Promise<Compute> {
    const compute = new Compute(settings);
    compute.server.listen(0, '127.0.0.1');
    await once(compute.server, 'listening');
    compute.touch();
    return compute;
  }

  /** host:port, as written in the project's connection details. */
  get address(): string {
    const address = this.server.address();
    if (!address || typeof address === 'string') throw new Error('compute: not listening');
    return `${this.settings.host}:${address.port}`;
  }

  /** Suspends now, as the idle timer would: sessions are terminated, the next connect cold-starts. */
  async suspend(): Promise<void> {
    clearTimeout(this.idleTimer);
    this.state = 'suspended';
    // Each backend sends its FATAL error and closes; the client side closes with it (accept()).
    await this.settings.terminateSessions();
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.idleTimer);
    const closing = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    await closing;
  }

  private touch(): void {
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => void this.suspend().catch(() => {}), this.settings.suspendAfterMs);
    this.idleTimer.unref();
  }

  private wake(): Promise<void> {
    if (this.state === 'active') return Promise.resolve();
    this.waking ??= new Promise<void>((resolve) => setTimeout(resolve, this.coldStartMs)).then(() => {
      this.state = 'active';
      this.coldStarts += 1;
      this.waking = undefined;
    });
    return this.waking;
  }

  private track(socket: Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => socket.destroy());
  }

  private async accept(client: Socket): Promise<void> {
    if (this.closed) return void client.destroy();
    this.track(client);
    this.touch();
    let stream: Socket = client;
    let first = await readBytes(client, 8);
    for (let code = first.readInt32BE(4); code === SSL_REQUEST || code === GSSENC_REQUEST; code = first.readInt32BE(4)) {
      if (code === SSL_REQUEST && this.settings.tls) {
        client.write('S');
        const secure = new TLSSocket(client, { isServer: true, secureContext: this.settings.tls });
        await once(secure, 'secure');
        // TLSSocket types `servername` as string | false.
        this.serverNames.push(String((secure as unknown as { servername: string | false }).servername || ''));
        stream = secure;
        first = await readBytes(secure, 8);
        break;
      }
      client.write('N');
      first = await readBytes(client, 8);
    }
    await this.wake();
    if (this.closed) return void client.destroy();
    const upstream = connect({ host: this.settings.pgHost, port: this.settings.pgPort });
    this.track(upstream);
    // Every query has an answer: the server's bytes are the compute's activity.
    upstream.on('data', () => this.touch());
    upstream.write(first);
    // The server's last bytes (a FATAL error before it closes) must reach the client: pipe() ends
    // the client's side once they are written, where destroy() would drop them.
    stream.pipe(upstream);
    upstream.pipe(stream);
    stream.on('close', () => upstream.destroy());
    stream.on('error', () => upstream.destroy());
    upstream.on('error', () => stream.destroy());
  }
}

/** The first `n` bytes a socket sends; whatever came with them is put back. */
function readBytes(socket: Socket, n: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let got = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      got = Buffer.concat([got, chunk]);
      if (got.length < n) return;
      socket.off('data', onData);
      socket.off('close', onClose);
      socket.pause();
      if (got.length > n) socket.unshift(got.subarray(n));
      resolve(got.subarray(0, n));
    };
    const onClose = () => reject(new Error('closed before the startup message'));
    socket.on('data', onData);
    socket.once('close', onClose);
    socket.resume();
  });
}
