import { createServer, Server, Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

/**
 * A TCP server that answers with whatever bytes a test chooses: for faults an HTTP server cannot
 * produce (malformed status lines, resets at a chosen moment). Counts the requests it receives.
 */
export class RawUpstream {
  hits = 0;
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();

  constructor(onRequest: (socket: Socket) => void) {
    this.server = createServer((socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
      socket.on('error', () => undefined);
      let seen = '';
      socket.on('data', (chunk) => {
        seen += chunk.toString('latin1');
        // The BFF sends small bodies with Content-Length: the request is complete once the body is in.
        const end = seen.indexOf('\r\n\r\n');
        const length = Number(/content-length: *(\d+)/i.exec(seen)?.[1] ?? 0);
        if (end >= 0 && seen.length >= end + 4 + length) {
          seen = '';
          this.hits += 1;
          onRequest(socket);
        }
      });
    });
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return this;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
