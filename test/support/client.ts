import { IncomingHttpHeaders, OutgoingHttpHeaders, request } from 'node:http';
import { ROUTE, VALID_BODY } from './bff';

export interface Answer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly text: string;
  /** The body parsed as JSON. */
  readonly body: Record<string, unknown>;
}

export interface Call {
  readonly method?: string;
  readonly path?: string;
  readonly headers?: OutgoingHttpHeaders;
  readonly body?: unknown;
  /**
   * The client's own address on the loopback interface (127.0.0.2, ...): Linux routes all of
   * 127/8 there, so each is another client as the socket tells it, no proxy headers needed.
   */
  readonly from?: string;
  /** Closes the connection after this many ms, answer or not (then resolves with status 0). */
  readonly abortAfterMs?: number;
}

/** One request on its own connection, from a chosen local address. */
export function call(baseUrl: string, options: Call = {}): Promise<Answer> {
  const { method = 'POST', path = ROUTE, headers = {}, body = VALID_BODY, from } = options;
  const url = new URL(baseUrl);
  const payload = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        method,
        path,
        localAddress: from,
        agent: false,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(payload),
          ...headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: Record<string, unknown> = {};
          try {
            parsed = JSON.parse(text) as Record<string, unknown>;
          } catch {
            // not JSON: `text` has it
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, body: parsed });
        });
      },
    );
    if (options.abortAfterMs !== undefined) {
      setTimeout(() => {
        req.destroy();
        resolve({ status: 0, headers: {}, text: '', body: {} });
      }, options.abortAfterMs);
    }
    req.on('error', (error) => (options.abortAfterMs === undefined ? reject(error) : undefined));
    req.end(payload);
  });
}

/** `Authorization: Bearer <token>`. */
export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/** Runs `tasks` with at most `concurrency` at once; resolves with their results in order. */
export async function pool<T>(concurrency: number, tasks: Array<() => Promise<T>>): Promise<T[]> {
  const results: T[] = new Array<T>(tasks.length);
  let next = 0;
  const worker = async () => {
    while (next < tasks.length) {
      const index = next++;
      results[index] = await tasks[index]();
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return results;
}
