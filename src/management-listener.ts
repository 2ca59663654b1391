import { createServer, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';

const MANAGEMENT_ROUTE = /^\/(?:health\/|metrics$)/;

/**
 * MANAGEMENT_PORT: /health/* and /metrics on a listener of their own, for the probes and
 * Prometheus only, and nothing else there; the public port no longer serves them. The same Fastify
 * instance answers on both (its `routing` handler behind a second node:http server), so the probes
 * report the state of the very app that serves the API.
 */
export class ManagementListener {
  private readonly server: Server;
  private port?: number;

  constructor(fastify: FastifyInstance, headersTimeoutMs: number) {
    this.server = createServer({ headersTimeout: headersTimeoutMs }, fastify.routing);
    fastify.addHook('onRequest', (request, reply, done) => {
      // Before listen (app.inject) nothing is on the management port.
      const onManagementPort = this.port !== undefined && request.socket.localPort === this.port;
      if (onManagementPort === MANAGEMENT_ROUTE.test(request.routeOptions.url ?? '')) done();
      else reply.callNotFound();
    });
    fastify.addHook('onClose', (_instance, done) => {
      this.server.closeAllConnections();
      this.server.close(() => done());
    });
  }

  /** Resolves with the port listened on (PORT=0 style: 0 picks a free one). */
  async listen(port: number, host: string): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    this.port = (this.server.address() as AddressInfo).port;
    return this.port;
  }
}
