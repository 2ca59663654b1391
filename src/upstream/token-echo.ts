/** Shorter session tokens are not looked for in answers: they would match ordinary text. */
export const MIN_ECHO_LENGTH = 8;

/**
 * The base64 texts (one alphabet) that any base64 encoding of a text containing `token` contains,
 * whatever the token's offset in it: for each of the 3 byte alignments, the groups made of token
 * bytes only. The partial groups at either end depend on the neighbouring bytes, so they are left
 * out (at most 2 bytes at each end).
 */
function base64Forms(token: Buffer, encoding: 'base64' | 'base64url'): string[] {
  const forms: string[] = [];
  for (let offset = 0; offset < 3; offset += 1) {
    const aligned = Buffer.concat([Buffer.alloc(offset), token]);
    const groups = Math.floor(aligned.length / 3);
    forms.push(aligned.toString(encoding).slice(offset === 0 ? 0 : 4, groups * 4));
  }
  return forms;
}

/**
 * Every text an answer holding one of `tokens` would show once decoded (JSON escapes undone,
 * percent-encoding undone once): the token itself, its base64 and base64url encodings at any
 * alignment, and its percent-encoding (a doubly percent-encoded copy decodes to it). Computed when
 * a token is loaded, so a request only searches.
 */
export function echoFormsOf(tokens: readonly string[]): readonly string[] {
  const forms = new Set<string>();
  for (const token of tokens) {
    if (token.length < MIN_ECHO_LENGTH) continue;
    const bytes = Buffer.from(token, 'utf8');
    for (const form of [
      token,
      encodeURIComponent(token),
      ...base64Forms(bytes, 'base64'),
      ...base64Forms(bytes, 'base64url'),
    ]) {
      if (form.length >= MIN_ECHO_LENGTH) forms.add(form);
    }
  }
  return [...forms];
}

const PERCENT_ESCAPE = /%([0-9A-Fa-f]{2})/g;
const byteOf = (_escape: string, hex: string) => String.fromCharCode(parseInt(hex, 16));

/**
 * Percent-decoding that never throws: each `%XX` becomes the character of that byte. The tokens
 * are ASCII (a header value), so a multi-byte UTF-8 sequence decoding to other characters changes
 * nothing to what is found.
 */
function percentDecoded(text: string): string {
  return text.replace(PERCENT_ESCAPE, byteOf);
}

/** Whether `text`, as it is or percent-decoded, contains one of `forms`. */
export function containsEcho(text: string, forms: readonly string[]): boolean {
  for (const form of forms) if (text.includes(form)) return true;
  if (!text.includes('%')) return false;
  const decoded = percentDecoded(text);
  for (const form of forms) if (decoded.includes(form)) return true;
  return false;
}

function collectStrings(value: unknown, into: string[]): void {
  if (typeof value === 'string') into.push(value);
  else if (Array.isArray(value)) for (const item of value) collectStrings(item, into);
  else if (typeof value === 'object' && value !== null) {
    for (const key of Object.keys(value)) {
      into.push(key);
      collectStrings((value as Record<string, unknown>)[key], into);
    }
  }
}

/**
 * Whether a body holds one of `forms`. `parsed` is the body's JSON value, or undefined when it is
 * not JSON. Without a backslash, every JSON string is its own text in the body, so the body is
 * searched as it is (one scan, the usual case); with one, the parsed strings are (every escape
 * undone: `\u003d` is `=`). Each string is searched on its own: a token split across fields is not
 * found.
 */
export function bodyEchoes(body: string, parsed: unknown, forms: readonly string[]): boolean {
  if (forms.length === 0) return false;
  if (parsed === undefined || !body.includes('\\')) return containsEcho(body, forms);
  const strings: string[] = [];
  collectStrings(parsed, strings);
  // A line feed is in no form (a header value never holds one): one search, no match across strings.
  return containsEcho(strings.join('\n'), forms);
}
