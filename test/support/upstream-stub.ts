import { readFileSync } from 'node:fs';
import {
  createServer,
  IncomingHttpHeaders,
  IncomingMessage,
  Server,
  ServerResponse,
} from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { join } from 'node:path';

export interface RecordedRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

export type StubHandler = (
  request: RecordedRequest,
  res: ServerResponse,
  req: IncomingMessage,
) => void;

/** What the upstream answers to a create; the load, soak and bench scripts read the same file. */
export const CREATED_BODY = JSON.parse(
  readFileSync(join(__dirname, 'created-intervention.json'), 'utf8'),
) as { data: Record<string, unknown> & { id: number }; token: string | null };

export const answerCreated: StubHandler = (_request, res) => {
  res.writeHead(201, { 'Content-Type': 'application/json' }).end(JSON.stringify(CREATED_BODY));
};

/** An upstream that creates (201) for the credentials `accepts` takes, and answers 401 otherwise. */
export const acceptingCredentials =
  (accepts: (authorization: string) => boolean): StubHandler =>
  (request, res) => {
    const ok = accepts(request.headers.authorization ?? '');
    res
      .writeHead(ok ? 201 : 401, { 'Content-Type': 'application/json' })
      .end(ok ? '{"data":{},"token":null}' : '{"message":"Unauthorized"}');
  };

/**
 * A real HTTP server on a free loopback port standing in for the upstream API.
 * It records every request it receives; each test decides how it answers.
 */
export class UpstreamStub {
  readonly requests: RecordedRequest[] = [];
  handler: StubHandler = answerCreated;
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();

  constructor() {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const recorded = {
          method: req.method ?? '',
          url: req.url ?? '',
          headers: req.headers,
          body: Buffer.concat(chunks).toString('utf8'),
        };
        this.requests.push(recorded);
        this.handler(recorded, res, req);
      });
    });
    this.server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return this;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  get openSockets(): number {
    return this.sockets.size;
  }

  reset(handler: StubHandler = answerCreated): void {
    this.requests.length = 0;
    this.handler = handler;
  }

  /** Like reset, but every request waits: its entry in the list answers it 201 when called. */
  hold(): Array<() => void> {
    const held: Array<() => void> = [];
    this.reset((_r, res) =>
      held.push(() =>
        res.writeHead(201, { 'Content-Type': 'application/json' }).end('{"data":{}}'),
      ),
    );
    return held;
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
