import type { Socket } from 'node:net';
import { PROBLEM_CONTENT_TYPE, PROBLEM_TYPE_BASE, PROBLEMS, ProblemKind } from './problem';

const KIND_BY_CODE: Readonly<Record<string, ProblemKind>> = {
  HPE_HEADER_OVERFLOW: 'header-fields-too-large',
  ERR_HTTP_REQUEST_TIMEOUT: 'request-timeout',
};

/**
 * Errors Node raises before a request exists (oversized headers, slow clients, bad HTTP):
 * answered in the same problem shape, straight on the socket.
 */
export function answerClientError(error: Error & { code?: string }, socket: Socket): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const kind = KIND_BY_CODE[error.code ?? ''] ?? 'malformed-request';
  const { status, title } = PROBLEMS[kind];
  const body = JSON.stringify({
    type: PROBLEM_TYPE_BASE + kind,
    title,
    status,
    detail: title + '.',
  });
  socket.end(
    `HTTP/1.1 ${status} ${title}\r\nContent-Type: ${PROBLEM_CONTENT_TYPE}\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}
