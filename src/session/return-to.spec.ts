import { localReturnTo } from './return-to';

const ORIGIN = 'https://bff.example';

describe('localReturnTo', () => {
  it.each(['/', '/docs', '/a/b?c=d#e', '/%2F%2Fevil.example'])(
    'keeps the local path %s',
    (path) => {
      expect(localReturnTo(path, ORIGIN)).toBe(path);
    },
  );

  it('defaults to / when absent', () => {
    expect(localReturnTo(undefined, ORIGIN)).toBe('/');
  });

  it.each([
    'https://evil.example',
    '//evil.example',
    '/\\evil.example',
    '\\\\evil.example',
    '/\t/evil.example',
    ' /docs',
    'docs',
    'javascript:alert(1)',
    '',
    `/${'a'.repeat(2048)}`,
  ])('refuses %j', (value) => {
    expect(localReturnTo(value, ORIGIN)).toBeUndefined();
  });

  it('refuses a repeated parameter', () => {
    expect(localReturnTo(['/a', '/b'], ORIGIN)).toBeUndefined();
  });
});
