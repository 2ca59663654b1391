import type { Socket } from 'node:net';
import type { AxiosAdapter, AxiosResponse, InternalAxiosRequestConfig } from 'axios';
import { buildConnector, Dispatcher } from 'undici';

export class ResponseTooLargeError extends Error {
  readonly code = 'ERR_RESPONSE_TOO_LARGE';
}

/** What an abort carries when its signal gave no reason of its own. */
function abortReason(signal: AbortSignal): Error {
  return signal.reason instanceof Error
    ? signal.reason
    : new DOMException('This operation was aborted', 'AbortError');
}

/**
 * An axios adapter over an undici dispatcher: axios' own Node transport costs about 250 µs more CPU
 * per request. It uses undici's handler interface (`dispatch`), not `request()`, which would build
 * a stream for each response body: the body is gathered from the chunks, bounded by
 * `maxContentLength`. Every status resolves (no exception per 4xx/5xx) with the body as text; the
 * caller decides what a status or a body means. `baseURL` must be the origin and `url` the path.
 */
export function undiciAdapter(dispatcher: Dispatcher): AxiosAdapter {
  return (config: InternalAxiosRequestConfig) =>
    new Promise<AxiosResponse<string>>((resolve, reject) => {
      const signal = config.signal as AbortSignal | undefined;
      if (signal?.aborted) {
        reject(abortReason(signal));
        return;
      }
      const maxBytes =
        config.maxContentLength !== undefined && config.maxContentLength >= 0
          ? config.maxContentLength
          : Infinity;
      const chunks: Buffer[] = [];
      let size = 0;
      let status = 0;
      let headers: AxiosResponse['headers'] = {};
      // An abort before undici starts the request (still queued for a connection) settles at once;
      // undici is told when it starts it.
      let started: Dispatcher.DispatchController | undefined;
      let abortedWith: Error | undefined;
      const onAbort = () => {
        abortedWith = abortReason(signal as AbortSignal);
        if (started) started.abort(abortedWith);
        else reject(abortedWith);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      const settle = () => signal?.removeEventListener('abort', onAbort);

      dispatcher.dispatch(
        {
          origin: config.baseURL as string,
          path: config.url as string,
          method: (config.method ?? 'get').toUpperCase() as Dispatcher.HttpMethod,
          headers: config.headers.toJSON() as Record<string, string>,
          body: config.data as string | undefined,
        },
        {
          // Called again if undici retries the request on a fresh connection.
          onRequestStart(controller) {
            started = controller;
            if (abortedWith) controller.abort(abortedWith);
          },
          // Also called for each informational 1xx answer; the final answer comes last.
          onResponseStart(_controller, statusCode, responseHeaders) {
            status = statusCode;
            headers = responseHeaders as AxiosResponse['headers'];
          },
          onResponseData(controller, chunk) {
            size += chunk.length;
            if (size > maxBytes) {
              controller.abort(
                new ResponseTooLargeError(`response body exceeds ${maxBytes} bytes`),
              );
              return;
            }
            chunks.push(chunk);
          },
          onResponseEnd() {
            settle();
            const data =
              chunks.length === 1
                ? chunks[0].toString('utf8')
                : Buffer.concat(chunks).toString('utf8');
            resolve({ data, status, statusText: '', headers, config });
          },
          onResponseError(_controller, error) {
            settle();
            reject(error);
          },
        },
      );
    });
}

const CONTINUE = /^HTTP\/1\.[01] 100[ \r]/;
const CONTINUE_PREFIXES = ['HTTP/1.1 100 ', 'HTTP/1.0 100 '];

/**
 * undici fails a request on a `100 Continue` it did not ask for (it never sends `Expect`), though
 * RFC 9110 §15.2 says a client must parse and ignore an unexpected 1xx: an upstream that sends one
 * before its 201 would turn a created record into a 502. So the 100 heads at the start of each
 * answer are cut from what undici's parser reads (it reads with `socket.read()`); other 1xx reach
 * the adapter, which skips them. undici writes one request at a time on a connection, so an
 * answer starts after each write.
 */
export function ignoreUnsolicitedContinue<T extends Socket>(socket: T): T {
  const read = socket.read.bind(socket);
  const write = socket.write.bind(socket) as (...args: unknown[]) => boolean;
  let head: Buffer | undefined; // the start of an answer, until it is known not to be a 100
  socket.write = ((...args: unknown[]) => {
    head = Buffer.alloc(0);
    return write(...args);
  }) as T['write'];
  socket.read = (size?: number) => {
    const chunk = read(size) as Buffer | null;
    if (head === undefined || chunk === null) return chunk;
    head = head.length === 0 ? chunk : Buffer.concat([head, chunk]);
    for (;;) {
      const start = head.subarray(0, CONTINUE_PREFIXES[0].length).toString('latin1');
      if (!CONTINUE.test(start)) {
        if (CONTINUE_PREFIXES.some((prefix) => prefix.startsWith(start))) return null; // too short yet
        const answer = head;
        head = undefined;
        return answer;
      }
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return null; // the rest of the 100 head is still on its way
      head = head.subarray(end + 4);
    }
  };
  return socket;
}

/** undici's own connector (same defaults), each connection through ignoreUnsolicitedContinue. */
export function continueTolerantConnector(): buildConnector.connector {
  const connect = buildConnector({});
  return (options, callback) =>
    connect(options, (error, socket) =>
      error ? callback(error, null) : callback(null, ignoreUnsolicitedContinue(socket as Socket)),
    );
}
