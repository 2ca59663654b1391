import { indexNames, MemorySessionIndex } from './session-index';

describe('indexNames', () => {
  it('names the sid first, then the sub, hashed with the issuer', () => {
    const names = indexNames({ iss: 'https://id.example', sid: 'sid-1', sub: 'ada' });
    expect(names).toHaveLength(2);
    expect(names[0]).toMatch(/^bff:sessions-of:sid:[A-Za-z0-9_-]{43}$/);
    expect(names[1]).toMatch(/^bff:sessions-of:sub:[A-Za-z0-9_-]{43}$/);
    expect(names.join()).not.toContain('sid-1');
    expect(names.join()).not.toContain('ada');
    expect(indexNames({ iss: 'https://other.example', sub: 'ada' })).not.toContain(names[1]);
    expect(indexNames({ iss: 'https://id.example', sub: 'ada' })).toEqual([names[1]]);
  });
});

describe('MemorySessionIndex', () => {
  it('gives the keys under a name once', async () => {
    const index = new MemorySessionIndex();
    await index.add(['sid:a', 'sub:u'], 'k1', 60_000);
    await index.add(['sid:b', 'sub:u'], 'k2', 60_000);
    expect(await index.take('sid:a')).toEqual(['k1']);
    expect(await index.take('sid:a')).toEqual([]);
    expect(await index.take('sub:u')).toEqual(['k1', 'k2']);
    index.close();
  });
});
