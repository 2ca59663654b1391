// A development OpenID provider (oidc-provider, a dev dependency) on the loopback interface, with
// one demo user: for `npm run demo:session` and the session-mode tests. Never for production: its
// signing keys are oidc-provider's development keys and everything lives in memory.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import Provider from 'oidc-provider';

export const DEMO_USER = Object.freeze({
  login: 'technician',
  password: 'demo',
  sub: 'demo-technician',
  name: 'Demo Technician',
  email: 'technician@example.test',
});

const escapeHtml = (text) => String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function loginPage(uid, message = '') {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Development provider: log in</title></head>
<body><h1>Development OpenID provider</h1>
<p>Demo user: <code>${DEMO_USER.login}</code>, password <code>${DEMO_USER.password}</code>.</p>
${message && `<p role="alert">${escapeHtml(message)}</p>`}
<form method="post" action="/interaction/${escapeHtml(uid)}">
<label>Login <input name="login" autocomplete="username" value="${DEMO_USER.login}"></label>
<label>Password <input name="password" type="password" autocomplete="current-password"></label>
<button type="submit">Log in</button></form></body></html>`;
}

function readForm(req) {
  return new Promise((resolve, reject) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk) => {
      body += chunk;
      if (body.length > 4096) req.destroy();
    });
    req.on('end', () => resolve(new URLSearchParams(body)));
    req.on('error', reject);
  });
}

/**
 * Starts the provider on 127.0.0.1. `clients`: [{ clientId, clientSecret, redirectUris,
 * postLogoutRedirectUris, backchannelLogoutUri }]. Resolves with { issuer, provider, close() }; `provider` is the
 * oidc-provider instance, for tests that count its events.
 */
export async function startDevProvider({ port = 0, clients, accessTokenTtlS = 600 }) {
  let handler = (_req, res) => res.writeHead(503).end();
  const server = createServer((req, res) => handler(req, res));
  await new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve(undefined)));
  const { port: listening } = /** @type {import('node:net').AddressInfo} */ (server.address());
  const issuer = `http://127.0.0.1:${listening}`;

  const provider = new Provider(issuer, {
    clients: clients.map((client) => ({
      client_id: client.clientId,
      client_secret: client.clientSecret,
      redirect_uris: client.redirectUris,
      post_logout_redirect_uris: client.postLogoutRedirectUris ?? [],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
      // With a back-channel logout URI, `sid` goes into the ID token and the logout token.
      ...(client.backchannelLogoutUri && {
        backchannel_logout_uri: client.backchannelLogoutUri,
        backchannel_logout_session_required: true,
      }),
    })),
    findAccount: (_ctx, sub) =>
      sub === DEMO_USER.sub
        ? {
            accountId: sub,
            claims: () => ({ sub, name: DEMO_USER.name, email: DEMO_USER.email }),
          }
        : undefined,
    claims: { openid: ['sub'], profile: ['name'], email: ['email'] },
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    // Its own keys, made at each start: nothing signed by one run is valid in the next.
    jwks: {
      keys: [
        {
          ...generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({
            format: 'jwk',
          }),
          kid: randomBytes(8).toString('base64url'),
          use: 'sig',
          alg: 'RS256',
        },
      ],
    },
    features: {
      devInteractions: { enabled: false },
      revocation: { enabled: true },
      rpInitiatedLogout: { enabled: true },
      backchannelLogout: { enabled: true },
    },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    // Its outgoing calls (back-channel logout) go through an agent that refuses loopback
    // addresses, against SSRF; this provider and its clients live on loopback only.
    fetch: (url, options) => fetch(url, { ...options, dispatcher: undefined }),
    // It would drop offline_access from a request without prompt=consent: the BFF's sessions
    // outlive an access token, so the client always gets a refresh token.
    issueRefreshToken: (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    rotateRefreshToken: true,
    pkce: { required: () => true },
    ttl: {
      AccessToken: accessTokenTtlS,
      IdToken: 3600,
      Interaction: 600,
      Session: 8 * 3600,
      Grant: 8 * 3600,
      RefreshToken: 8 * 3600,
    },
  });
  const callback = provider.callback();
  const close = () =>
    new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve(undefined));
    });

  async function interaction(req, res, uid) {
    const details = await provider.interactionDetails(req, res);
    if (details.prompt.name === 'consent') {
      // One first-party client: consent is implied, granted for what it asked.
      const grant = details.grantId
        ? await provider.Grant.find(details.grantId)
        : new provider.Grant({
            accountId: details.session.accountId,
            clientId: details.params.client_id,
          });
      const missing = details.prompt.details;
      if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
      if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
      const grantId = await grant.save();
      await provider.interactionFinished(
        req,
        res,
        { consent: { grantId } },
        {
          mergeWithLastSubmission: true,
        },
      );
      return;
    }
    if (req.method === 'GET') {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' }).end(loginPage(uid));
      return;
    }
    const form = await readForm(req);
    if (form.get('login') !== DEMO_USER.login || form.get('password') !== DEMO_USER.password) {
      res
        .writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' })
        .end(loginPage(uid, 'Unknown login or wrong password.'));
      return;
    }
    await provider.interactionFinished(
      req,
      res,
      { login: { accountId: DEMO_USER.sub } },
      {
        mergeWithLastSubmission: false,
      },
    );
  }

  handler = (req, res) => {
    const match = /^\/interaction\/([\w-]+)$/.exec(req.url ?? '');
    if (match === null || (req.method !== 'GET' && req.method !== 'POST')) {
      callback(req, res);
      return;
    }
    interaction(req, res, match[1]).catch(() => {
      if (!res.headersSent) res.writeHead(400, { 'Content-Type': 'text/plain' });
      res.end('This login has expired: start again from the application.');
    });
  };

  return {
    issuer,
    provider,
    close,
    // The provider unreachable, then back at the same address with its state (tokens, grants).
    pause: close,
    resume: () =>
      new Promise((resolve) => server.listen(listening, '127.0.0.1', () => resolve(undefined))),
  };
}
