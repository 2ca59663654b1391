import { randomUUID } from 'node:crypto';
import {
  AUDIENCE,
  ISSUER,
  JwksServer,
  signingKey,
  type SigningKey,
  token,
} from '../../test/support/jwks-server';
import {
  BACKCHANNEL_LOGOUT_EVENT,
  InvalidLogoutToken,
  LOGOUT_TOKEN_MAX_AGE_S,
  LogoutKeysUnavailable,
  LogoutTokenVerifier,
  MemorySeenLogoutTokens,
} from './logout-token';

let jwks: JwksServer;
let key: SigningKey;
let verifier: LogoutTokenVerifier;

beforeAll(async () => {
  key = await signingKey('k1');
  jwks = await new JwksServer().start();
  jwks.keys = [key.publicJwk];
  verifier = new LogoutTokenVerifier(jwks.url, ISSUER, AUDIENCE, ['RS256', 'HS256', 'none']);
});
afterAll(() => jwks.stop());

/** A logout token as a provider issues it, without `exp` unless given. */
const logoutToken = (claims: Record<string, unknown> = {}) =>
  token(key, {
    exp: undefined,
    sid: 'sid-1',
    jti: randomUUID(),
    events: { [BACKCHANNEL_LOGOUT_EVENT]: {} },
    ...claims,
  });

const refusal = (promise: Promise<unknown>) =>
  promise.then(
    () => 'accepted',
    (error: unknown) => (error instanceof InvalidLogoutToken ? error.message : error),
  );

const now = () => Math.floor(Date.now() / 1000);

describe('LogoutTokenVerifier', () => {
  it('takes a valid token and says until when its jti must be kept', async () => {
    const iat = now();
    const claims = await verifier.verify(await logoutToken({ iat, jti: 'j-1' }));
    expect(claims).toEqual({
      iss: ISSUER,
      jti: 'j-1',
      sid: 'sid-1',
      sub: 'user-1',
      refusedAfter: (iat + LOGOUT_TOKEN_MAX_AGE_S + 30) * 1000,
    });
    const withExp = await verifier.verify(await logoutToken({ iat, exp: iat + 120 }));
    expect(withExp.refusedAfter).toBe((iat + 150) * 1000);
  });

  it.each([
    ['issued too long ago', { iat: now() - LOGOUT_TOKEN_MAX_AGE_S - 60 }, /iat/],
    ['issued in the future', { iat: now() + 120 }, /iat/],
    ['without iat', { iat: undefined }, /iat/],
    ['expired', { iat: now() - 200, exp: now() - 100 }, /exp/],
    ['from another issuer', { iss: 'https://other.test/' }, /iss/],
    ['for another audience', { aud: 'another-app' }, /aud/],
    ['without jti', { jti: undefined }, /jti/],
    ['without events', { events: undefined }, /events/],
    ['with another event only', { events: { other: {} } }, /back-channel logout event/],
    ['with a nonce', { nonce: 'n' }, /nonce/],
    ['naming neither sid nor sub', { sid: undefined, sub: undefined }, /neither/],
  ])('refuses a token %s', async (_case, claims, reason) => {
    expect(await refusal(verifier.verify(await logoutToken(claims)))).toMatch(reason);
  });

  it('refuses alg none (even listed by the provider) and a key not in the JWKS', async () => {
    const payload = (await logoutToken()).split('.')[1];
    const none = Buffer.from(JSON.stringify({ alg: 'none' })).toString('base64url');
    expect(await refusal(verifier.verify(`${none}.${payload}.`))).toMatch(/signature or form/);
    const stranger = await signingKey('k1');
    const forged = await token(stranger, {
      sid: 'sid-1',
      jti: 'j',
      events: { [BACKCHANNEL_LOGOUT_EVENT]: {} },
    });
    expect(await refusal(verifier.verify(forged))).toMatch(/signature or form/);
  });

  it('tells an unreachable key set from a bad token', async () => {
    const down = new LogoutTokenVerifier('http://127.0.0.1:9/jwks', ISSUER, AUDIENCE, ['RS256']);
    await expect(down.verify(await logoutToken())).rejects.toBeInstanceOf(LogoutKeysUnavailable);
  });
});

describe('MemorySeenLogoutTokens', () => {
  it('takes a jti once until it expires, and again once released', async () => {
    const seen = new MemorySeenLogoutTokens();
    const until = Date.now() + 60_000;
    expect(await seen.claim(ISSUER, 'j', until)).toBe(true);
    expect(await seen.claim(ISSUER, 'j', until)).toBe(false);
    expect(await seen.claim('https://other.test/', 'j', until)).toBe(true);
    await seen.release(ISSUER, 'j');
    expect(await seen.claim(ISSUER, 'j', until)).toBe(true);
    expect(await seen.claim(ISSUER, 'old', Date.now() - 1)).toBe(true);
    expect(await seen.claim(ISSUER, 'old', Date.now() + 1000)).toBe(true);
  });
});
