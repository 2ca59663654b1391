import fc from 'fast-check';
import { bodyEchoes, containsEcho, echoFormsOf } from './token-echo';

const TOKEN = 'sess+ion/tok=en~42';
const forms = echoFormsOf([TOKEN, 'the-previous-token']);

/** As a JSON body: parsed when it is JSON, as the upstream client does. */
const echoes = (body: string) => {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    parsed = undefined;
  }
  return bodyEchoes(body, parsed, forms);
};

const unicodeEscaped = (text: string, every = 1) =>
  [...text]
    .map((char, i) =>
      i % every === 0 ? `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}` : char,
    )
    .join('');

describe('echo detection', () => {
  it.each([
    ['as it is', JSON.stringify({ t: TOKEN })],
    ['with `=` written \\u003d (Gson)', `{"t":"${TOKEN.replace('=', '\\u003d')}"}`],
    ['fully \\u-escaped', `{"t":"${unicodeEscaped(TOKEN)}"}`],
    ['partly \\u-escaped, in a key', `{"${unicodeEscaped(TOKEN, 3)}":1}`],
    ['base64', JSON.stringify({ t: Buffer.from(TOKEN).toString('base64') })],
    ['base64url', JSON.stringify({ t: Buffer.from(TOKEN).toString('base64url') })],
    [
      'base64 inside a longer base64 text',
      JSON.stringify({ t: Buffer.from(`Basic x:${TOKEN};`).toString('base64') }),
    ],
    ['percent-encoded', JSON.stringify({ t: encodeURIComponent(TOKEN) })],
    [
      'percent-encoded in lower case',
      JSON.stringify({ t: encodeURIComponent(TOKEN).toLowerCase() }),
    ],
    ['percent-encoded twice', JSON.stringify({ t: encodeURIComponent(encodeURIComponent(TOKEN)) })],
    ['the previous token', JSON.stringify({ t: 'the-previous-token' })],
    ['in a body that is not JSON', `<p>${TOKEN}</p>`],
  ])('finds the token %s', (_case, body) => expect(echoes(body)).toBe(true));

  it('finds the base64 of the token at any offset of a longer text', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), (before, after) => {
        const text = Buffer.from(before + TOKEN + after).toString('base64');
        expect(containsEcho(text, forms)).toBe(true);
      }),
    );
  });

  it.each([
    ['ordinary answers', JSON.stringify({ data: { id: 1, note: 'sess ion tok en' } })],
    ['a token split across two fields', JSON.stringify({ a: 'sess+ion/', b: 'tok=en~42' })],
    ['a malformed percent escape', JSON.stringify({ t: '%zz%' })],
  ])('does not flag %s', (_case, body) => expect(echoes(body)).toBe(false));

  it('finds a percent-encoded token in a header value', () => {
    expect(containsEcho(`"p";q=1;w=${encodeURIComponent(TOKEN)}`, forms)).toBe(true);
    expect(containsEcho('"p";q=1;w=60', forms)).toBe(false);
  });

  it('looks for nothing with a token too short to tell from ordinary text', () => {
    expect(echoFormsOf(['short'])).toEqual([]);
  });
});
