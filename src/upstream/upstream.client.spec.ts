import fc from 'fast-check';
import { numbersRoundTrip, withoutToken } from './upstream.client';

/** The slow truth: every number's source text, as JSON.parse saw it, against how it is written back. */
function truth(body: string): boolean {
  let same = true;
  JSON.parse(body, (_key, value: unknown, context?: { source?: string }) => {
    if (typeof value === 'number' && String(value) !== context?.source) same = false;
    return value;
  });
  return same;
}

/** Number texts JSON allows, including the ones JSON.stringify would write differently. */
const numberText = fc.oneof(
  fc.integer().map(String),
  fc.bigInt({ min: -(10n ** 25n), max: 10n ** 25n }).map(String),
  // Around 2^53, where integers stop being written back as read.
  fc.bigInt({ min: 10n ** 14n, max: 10n ** 18n }).map(String),
  fc.double({ noNaN: true, noDefaultInfinity: true }).map((n) => JSON.stringify(n)),
  fc.constantFrom(
    '-0',
    '0',
    '1.10',
    '1.0',
    '1e3',
    '1E+2',
    '-2.5e-3',
    '0.1',
    '100000000000000000000',
  ),
);

describe('numbersRoundTrip', () => {
  it('agrees with a reviver reading every number source, inside objects, arrays and next to strings', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.string(), numberText, fc.string()), { maxLength: 6 }),
        (entries) => {
          const body = `{${entries
            .map(
              ([key, number, text], i) =>
                `${JSON.stringify(key + i)}:[${number},${JSON.stringify(text)}]`,
            )
            .join(',')}}`;
          expect(numbersRoundTrip(body)).toBe(truth(body));
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('does not read digits inside strings, escaped quotes included', () => {
    expect(numbersRoundTrip('{"a":"1.10 \\" 1e3","b":12}')).toBe(true);
    expect(numbersRoundTrip('{"a":"x","b":1.10}')).toBe(false);
    expect(numbersRoundTrip('{"id": 12345678901234567890}')).toBe(false);
    expect(numbersRoundTrip('[-0]')).toBe(false);
  });
});

describe('withoutToken', () => {
  it('nulls the token and keeps every number as it was written', () => {
    const body = '{"id":12345678901234567890,"cost":1.10,"token":"secret","n":7}';
    expect(withoutToken(body, JSON.parse(body) as Record<string, unknown>)).toBe(
      '{"id":12345678901234567890,"cost":1.10,"token":null,"n":7}',
    );
  });
});
