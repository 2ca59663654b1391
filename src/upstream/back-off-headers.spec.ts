import { validBackOff } from './back-off-headers';

describe('validBackOff', () => {
  it.each([
    ['Retry-After', '7'],
    ['Retry-After', '0'],
    ['Retry-After', 'Wed, 21 Oct 2015 07:28:00 GMT'],
    ['RateLimit', '"default";r=0;t=7'],
    ['RateLimit', '"minute";r=50;t=30, "day";r=1000;t=3600'],
    ['RateLimit-Policy', '"default";q=100;w=60'],
    [
      'RateLimit-Policy',
      '"burst";q=100;w=60;qu="requests", "daily";q=1000;w=86400;pk=:cHsdsRa894Q=:',
    ],
    ['RateLimit', 'limit=10, remaining=5, reset=3'], // an earlier draft: a Dictionary
    ['X-RateLimit-Limit', '9'.repeat(256)],
  ])('relays %s: %s', (name, value) => expect(validBackOff(name, value)).toBe(true));

  it.each([
    ['Retry-After', '5\xff\x80'],
    ['Retry-After', '-1'],
    ['Retry-After', '1.5'],
    ['Retry-After', 'soon'],
    ['Retry-After', 'Wed, 21 Oct 2015 07:28:00 CET'],
    ['Retry-After', '7\r\nSet-Cookie: a=b'],
    ['RateLimit', '"default";r=0;t=7\xff'],
    ['RateLimit', '"unterminated;r=0'],
    ['RateLimit', '<script>'],
    ['RateLimit-Policy', '"p";q=1;w=%2Bx'],
    ['RateLimit-Policy', ''],
    ['X-RateLimit-Remaining', '5\xff'],
    ['X-RateLimit-Reset', 'tomorrow'],
  ])('drops %s: %j', (name, value) => expect(validBackOff(name, value)).toBe(false));
});
