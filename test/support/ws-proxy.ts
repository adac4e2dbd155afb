// A local WebSocket-to-TCP proxy, doing what Neon's `wsproxy` does for @neondatabase/serverless:
// the driver opens ws://<wsProxy>?address=host:port and speaks the PostgreSQL wire protocol in
// binary frames; the proxy opens a TCP socket to that address and copies bytes both ways. With it,
// the driver's Pool/Client reach the plain local PostgreSQL the tests run against.
//
// Only addresses that `allow` accepts are dialled (default: the loopback names), so the proxy can
// never be used to reach anything else. Refusals are answered before the WebSocket upgrade, with
// an HTTP status, as an HTTP-level proxy would.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';

export interface WsProxy {
  /** Value for neonConfig.wsProxy (no protocol), e.g. "127.0.0.1:PORT/v1" — the driver appends ?address=host:port */
  wsProxy: string;
  /** TCP connections opened through the proxy so far (tests assert traffic really went through it). */
  connectionsOpened(): number;
  close(): Promise<void>;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost']);

// Beyond this many bytes queued on the WebSocket, stop reading from PostgreSQL until they drain,
// so a large result set does not pile up in memory.
const HIGH_WATER_MARK = 1 << 20;

export async function startWsProxy(options: { allow?: (host: string, port: number) => boolean } = {}): Promise<WsProxy> {
  const allow = options.allow ?? ((host: string) => LOOPBACK.has(host));
  let opened = 0;
  const sockets = new Set<Socket>();

  // noServer: upgrades are checked by hand first (path, address, allow) so refusals are plain
  // HTTP answers rather than a WebSocket that opens and then closes.
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
  const server: Server = createServer((_req, res) => {
    res.writeHead(426, { 'content-type': 'text/plain' }).end('WebSocket upgrade required\n');
  });

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    const url = new URL(req.url ?? '/', 'http://proxy.invalid');
    const target = url.pathname === '/v1' ? parseAddress(url.searchParams.get('address')) : undefined;
    if (url.pathname !== '/v1') return refuse(socket, 404, 'Not Found');
    if (!target) return refuse(socket, 400, 'Bad Request');
    if (!allow(target.host, target.port)) return refuse(socket, 403, 'Forbidden');
    wss.handleUpgrade(req, socket, head, (ws) => pipe(ws, target));
  });

  function pipe(ws: WebSocket, target: { host: string; port: number }): void {
    const tcp = connect({ host: target.host, port: target.port });
    sockets.add(tcp);
    tcp.setNoDelay(true);
    // The driver starts sending (the startup message) as soon as the WebSocket is open, possibly
    // before the TCP connection is up; net.Socket queues writes made while connecting.
    tcp.once('connect', () => {
      opened += 1;
    });

    ws.on('message', (data: RawData) => {
      const ok = tcp.write(toBuffer(data));
      if (!ok) {
        ws.pause();
        tcp.once('drain', () => ws.resume());
      }
    });
    let queued = 0; // bytes handed to ws.send and not yet written to the client's socket
    tcp.on('data', (chunk: Buffer) => {
      if (ws.readyState !== ws.OPEN) return;
      queued += chunk.length;
      ws.send(chunk, { binary: true }, () => {
        queued -= chunk.length;
        if (tcp.isPaused() && queued <= HIGH_WATER_MARK / 2) tcp.resume();
      });
      if (queued > HIGH_WATER_MARK) tcp.pause();
    });

    // Each side closes the other: PostgreSQL ending the session (or refusing the connection) closes
    // the WebSocket, and the client going away ends the TCP connection so the backend exits.
    ws.on('close', () => tcp.end());
    ws.on('error', () => tcp.destroy());
    tcp.on('error', () => {
      if (ws.readyState === ws.OPEN || ws.readyState === ws.CONNECTING) ws.close(1011, 'upstream error');
    });
    tcp.on('close', () => {
      sockets.delete(tcp);
      if (ws.readyState === ws.OPEN || ws.readyState === ws.CONNECTING) ws.close(1000);
    });
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('ws proxy: no port');

  return {
    wsProxy: `127.0.0.1:${address.port}/v1`,
    connectionsOpened: () => opened,
    async close() {
      for (const ws of wss.clients) ws.terminate();
      for (const tcp of sockets) tcp.destroy();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** "host:port" or "[v6]:port" -> parts; undefined when malformed. */
function parseAddress(value: string | null): { host: string; port: number } | undefined {
  if (!value) return undefined;
  const colon = value.lastIndexOf(':');
  if (colon <= 0) return undefined;
  let host = value.slice(0, colon);
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  const portText = value.slice(colon + 1);
  const port = Number(portText);
  if (!host || !/^\d{1,5}$/.test(portText) || port < 1 || port > 65535) return undefined;
  return { host, port };
}

function refuse(socket: Duplex, status: number, reason: string): void {
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}
