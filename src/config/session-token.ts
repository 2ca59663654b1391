import { readFileSync } from 'node:fs';

/*
 * Checks of the upstream session token that also run after start: at every reload of its file.
 */

/** Container secrets end with a newline; the token never does. */
export function readTokenFile(path: string): string {
  return readFileSync(path, 'utf8').trim();
}

export const MAX_SESSION_TOKEN_BYTES = 8 * 1024;
// RFC 9110 field-value, visible ASCII only: undici refuses CR, LF, NUL and characters above 0xFF,
// and obs-text (0x80-0xFF) means whatever charset the upstream guesses.
const HEADER_VALUE = /^[\x21-\x7e](?:[\x21-\x7e \t]*[\x21-\x7e])?$/;

/**
 * Why a session token cannot be sent as a header, or undefined when it can. Checked before the
 * token is ever used: a bad one would fail every upstream call locally. Never quotes the token.
 */
export function sessionTokenProblem(token: string): string | undefined {
  if (token === '') return 'is empty';
  if (token.length > MAX_SESSION_TOKEN_BYTES) {
    return `is longer than ${MAX_SESSION_TOKEN_BYTES} bytes`;
  }
  if (!HEADER_VALUE.test(token)) {
    return 'is not a valid HTTP header value (visible ASCII only, spaces or tabs only inside)';
  }
  return undefined;
}
