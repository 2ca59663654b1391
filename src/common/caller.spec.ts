import type { FastifyRequest } from 'fastify';
import { addressKey, bearerToken, callerOf } from './caller';

describe('bearerToken', () => {
  it.each(['Bearer abc', 'bearer abc', 'BEARER abc', 'Bearer   abc', 'bEaReR abc'])(
    '%j is the token abc',
    (header) => expect(bearerToken(header)).toBe('abc'),
  );

  it.each([
    undefined,
    '',
    'Bearer',
    'Bearer ',
    'Bearerabc',
    'Bearer\tabc',
    'Bearer a b',
    'Basic abc',
  ])('%j is no bearer token', (header) => expect(bearerToken(header)).toBeUndefined());

  it('keeps the token as sent: its case and its padding', () => {
    expect(bearerToken('Bearer AbC.d-e_f~g+h/i==')).toBe('AbC.d-e_f~g+h/i==');
  });
});

describe('addressKey', () => {
  it.each([
    ['203.0.113.7', '203.0.113.7'],
    ['::ffff:203.0.113.7', '203.0.113.7'],
    ['2001:db8:1:2:3:4:5:6', '2001:db8:1:2::/64'],
    ['2001:db8:1:2::99', '2001:db8:1:2::/64'],
    ['2001:0db8:0001:0002:ffff::1', '2001:db8:1:2::/64'],
    ['2001:db8::1', '2001:db8:0:0::/64'],
    ['::1', '0:0:0:0::/64'],
    ['fe80::1%eth0', 'fe80:0:0:0::/64'],
  ])('%s is %s', (ip, key) => expect(addressKey(ip)).toBe(key));

  it.each(['x'.repeat(10_000), 'unknown', '203.0.113.7:1234', '[2001:db8::1]', '', undefined])(
    '%j is no address (an X-Forwarded-For entry that is no IP is ignored)',
    (ip) => expect(addressKey(ip)).toBeUndefined(),
  );
});

describe('callerOf', () => {
  it('a request whose client address is gone (reset after sending) is a 499 problem, not a TypeError', () => {
    const request = { ip: undefined, headers: {} } as unknown as FastifyRequest;
    expect(() => callerOf(request)).toThrow(
      expect.objectContaining({
        problem: expect.objectContaining({
          status: 499,
          type: 'urn:interventions-bff:problem:client-closed-request',
        }),
      }),
    );
  });
});
