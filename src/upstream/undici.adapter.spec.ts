import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Axios } from 'axios';
import { Agent } from 'undici';
import { ResponseTooLargeError, undiciAdapter } from './undici.adapter';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** A real HTTP server on a free loopback port; `handler` can be swapped per test. */
async function startServer(): Promise<{
  origin: string;
  hits: string[];
  use: (handler: Handler) => void;
  close: () => Promise<void>;
}> {
  const hits: string[] = [];
  let handler: Handler = (_req, res) => res.end();
  const server: Server = createServer((req, res) => {
    hits.push(req.url ?? '');
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    hits,
    use: (next) => (handler = next),
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

describe('undiciAdapter', () => {
  let server: Awaited<ReturnType<typeof startServer>>;
  let agent: Agent;
  let axios: InstanceType<typeof Axios>;

  beforeEach(async () => {
    server = await startServer();
    // One connection: a second call waits in undici's queue until the first one ends.
    agent = new Agent({ connections: 1 });
    axios = new Axios({
      baseURL: server.origin,
      adapter: undiciAdapter(agent),
      maxContentLength: 64,
    });
  });
  afterEach(async () => {
    await agent.destroy();
    await server.close();
  });

  it('resolves every status with its headers and the body as text', async () => {
    server.use((_req, res) =>
      res.writeHead(503, { 'Content-Type': 'application/json', 'Retry-After': '7' }).end('{"a":1}'),
    );
    const response = await axios.request<string>({ method: 'post', url: '/x', data: '{}' });
    expect(response.status).toBe(503);
    expect(response.headers['retry-after']).toBe('7');
    expect(response.data).toBe('{"a":1}');
  });

  it('skips an informational 1xx answer and returns the final one', async () => {
    server.use((_req, res) => {
      res.writeEarlyHints({ link: '</style.css>; rel=preload' });
      res.writeHead(201, { 'Content-Type': 'application/json' }).end('{"id":1}');
    });
    const response = await axios.request<string>({ method: 'post', url: '/x', data: '{}' });
    expect(response.status).toBe(201);
    expect(response.data).toBe('{"id":1}');
  });

  it('fails on an unsolicited 100 Continue (undici refuses it; the call is never retried)', async () => {
    server.use((_req, res) => {
      res.writeContinue();
      res.writeHead(201, { 'Content-Type': 'application/json' }).end('{"id":1}');
    });
    await expect(axios.request({ method: 'post', url: '/x', data: '{}' })).rejects.toMatchObject({
      code: 'UND_ERR_SOCKET',
    });
  });

  it('stops reading past maxContentLength', async () => {
    server.use((_req, res) => {
      res.writeHead(200);
      res.write('x'.repeat(40));
      setTimeout(() => res.end('y'.repeat(40)), 20);
    });
    await expect(axios.request({ method: 'get', url: '/big' })).rejects.toBeInstanceOf(
      ResponseTooLargeError,
    );
  });

  it('rejects at once when aborted mid-body', async () => {
    server.use((_req, res) => {
      res.writeHead(200);
      res.write('{');
    });
    const controller = new AbortController();
    const call = axios.request({ method: 'get', url: '/slow', signal: controller.signal });
    setTimeout(() => controller.abort(), 50);
    // axios reports any call whose signal is aborted as its CanceledError.
    await expect(call).rejects.toMatchObject({ code: 'ERR_CANCELED' });
  });

  it('rejects a call aborted while queued for a connection, and never sends it', async () => {
    let release = () => undefined as void;
    server.use((req, res) => {
      if (req.url === '/first') release = () => res.end('done');
      else res.end('second');
    });
    const first = axios.request<string>({ method: 'get', url: '/first' });
    const controller = new AbortController();
    const queued = axios.request({ method: 'get', url: '/queued', signal: controller.signal });
    await new Promise((resolve) => setTimeout(resolve, 50));
    controller.abort();
    await expect(queued).rejects.toMatchObject({ code: 'ERR_CANCELED' });
    release();
    expect((await first).data).toBe('done');
    expect(server.hits).toEqual(['/first']);
  });
});
