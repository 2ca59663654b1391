// `npm run demo`: the mock upstream (Prism serving openapi/vendor/upstream.openapi.yaml) and the built BFF
// pointed at it, so Swagger UI's "Try it out" answers 201 without any real upstream.
// `npm run demo:session` (--session): the same, plus a development OpenID provider in this process
// (oidc-provider, one demo user, 127.0.0.1 only) and the BFF in session mode (AUTH_MODE=session).
// Ctrl-C (or SIGTERM) stops everything; if a child dies, the others are stopped and this exits non-zero.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const prismCli = join(
  dirname(require.resolve('@stoplight/prism-cli/package.json')),
  'dist',
  'index.js',
);
const upstreamDocument = join(root, 'openapi', 'vendor', 'upstream.openapi.yaml');
const bffMain = join(root, 'dist', 'main.js');
const sessionMode = process.argv.includes('--session');

const prismPort = process.env.PRISM_PORT ?? '4010';
const bffPort = process.env.PORT ?? '3000';
const oidcPort = Number(process.env.OIDC_PORT ?? '9090');
const publicBaseUrl = process.env.PUBLIC_BASE_URL ?? `http://localhost:${bffPort}`;
const READY_LINE = 'Prism is listening on';
const READY_TIMEOUT_MS = 20_000;
const STOP_GRACE_MS = 5_000;

const log = (line) => process.stdout.write(`[demo] ${line}\n`);

if (!existsSync(bffMain)) {
  log(`${bffMain} is missing: run "npm run build" first (npm run demo does).`);
  process.exit(1);
}

/** @type {import('./dev-oidc-provider.mjs').DevProvider | undefined} */
let devProvider;
/** @type {Map<string, import('node:child_process').ChildProcess>} */
const children = new Map();
let stopping = false;
let stopRequestedAt = 0;

function exited(child) {
  return child.exitCode !== null || child.signalCode !== null;
}

/** Each child runs in its own process group (detached): the group is signalled, not just the pid. */
function signalGroup(child, signal) {
  if (exited(child)) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // Already gone.
  }
}

function stopChild(child) {
  if (exited(child)) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => signalGroup(child, 'SIGKILL'), STOP_GRACE_MS);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    signalGroup(child, 'SIGTERM');
  });
}

async function shutdown(code, reason) {
  if (stopping) return;
  stopping = true;
  if (reason) log(reason);
  // The BFF first, so it never talks to a mock upstream that is already gone.
  for (const name of ['bff', 'prism']) {
    const child = children.get(name);
    if (child) await stopChild(child);
  }
  await devProvider?.close();
  process.exit(code);
}

function watch(name, child) {
  children.set(name, child);
  child.once('error', (error) => {
    void shutdown(1, `${name} could not be started: ${error.message}`);
  });
  child.once('exit', (code, signal) => {
    if (stopping) return;
    void shutdown(1, `${name} stopped (${signal ?? `exit code ${code}`}): stopping the demo.`);
  });
}

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    // npm may forward the terminal's Ctrl-C a second time: only a later one means "hurry".
    if (stopping && Date.now() - stopRequestedAt > 1_000) {
      for (const child of children.values()) signalGroup(child, 'SIGKILL');
      process.exit(130);
    }
    stopRequestedAt ||= Date.now();
    void shutdown(0, `${signal} received: stopping the BFF and the mock upstream.`);
  });
}

function startPrism() {
  const prism = spawn(
    process.execPath,
    [prismCli, 'mock', '-h', '127.0.0.1', '-p', prismPort, upstreamDocument],
    { cwd: root, detached: true, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  watch('prism', prism);
  return new Promise((resolve) => {
    let output = '';
    const timer = setTimeout(
      () => void shutdown(1, `Prism did not print "${READY_LINE}" within 20 s:\n${output}`),
      READY_TIMEOUT_MS,
    );
    const relay = (stream, target) =>
      stream.on('data', (chunk) => {
        target.write(chunk);
        if (output !== null) {
          output += chunk.toString('utf8');
          if (output.includes(READY_LINE)) {
            output = null;
            clearTimeout(timer);
            resolve();
          }
        }
      });
    relay(prism.stdout, process.stdout);
    relay(prism.stderr, process.stderr);
    prism.once('exit', () => clearTimeout(timer));
  });
}

/**
 * The development provider, knowing this BFF as its client with a secret made for this run; the
 * BFF's session variables to use it, with session keys made for this run too.
 */
async function startProvider() {
  const { startDevProvider } = await import('./dev-oidc-provider.mjs');
  const clientSecret = randomBytes(32).toString('base64url');
  devProvider = await startDevProvider({
    port: oidcPort,
    clients: [
      {
        clientId: 'interventions-bff',
        clientSecret,
        redirectUris: [`${publicBaseUrl}/bff/callback`],
        postLogoutRedirectUris: [`${publicBaseUrl}/`],
        // Logging out at the provider ends the BFF session too.
        backchannelLogoutUri: `${publicBaseUrl}/bff/backchannel-logout`,
      },
    ],
  });
  return {
    AUTH_MODE: 'session',
    // The provider sends the browser back to an absolute address on this BFF.
    PUBLIC_BASE_URL: publicBaseUrl,
    OIDC_ISSUER_URL: devProvider.issuer,
    OIDC_CLIENT_ID: 'interventions-bff',
    OIDC_CLIENT_SECRET: clientSecret,
    OIDC_SCOPES: 'openid profile email offline_access',
    OIDC_ALLOW_INSECURE_HTTP: 'true',
    SESSION_KEYS: randomBytes(32).toString('base64'),
  };
}

/** @type {Record<string, string>} */
let sessionEnv = {};

function startBff() {
  /** @type {NodeJS.ProcessEnv} */
  const env = {
    ...process.env,
    UPSTREAM_BASE_URL: `http://127.0.0.1:${prismPort}`,
    UPSTREAM_SESSION_TOKEN: 'demo-session-token',
    NODE_ENV: 'development',
    PORT: bffPort,
    ...sessionEnv,
  };
  delete env.UPSTREAM_SESSION_TOKEN_FILE; // exactly one token source is allowed
  const bff = spawn(process.execPath, [bffMain], {
    cwd: root,
    detached: true,
    stdio: 'inherit',
    env,
  });
  watch('bff', bff);
}

/** Polls the BFF's OpenAPI document until it answers, so the hint comes once the UI works. */
async function waitForBff() {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (!stopping && Date.now() < deadline) {
    try {
      const response = await fetch(`http://127.0.0.1:${bffPort}/docs-json`);
      if (response.ok) return;
    } catch {
      // Not listening yet.
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

log(`starting the mock upstream (Prism) on http://127.0.0.1:${prismPort}`);
await startPrism();
if (sessionMode) {
  sessionEnv = await startProvider();
  log(`development OpenID provider on ${sessionEnv.OIDC_ISSUER_URL}`);
}
log(`starting the BFF on port ${bffPort}, upstream http://127.0.0.1:${prismPort}`);
startBff();
await waitForBff();
if (!stopping && sessionMode) {
  const { DEMO_USER } = await import('./dev-oidc-provider.mjs');
  log(
    `ready: open ${publicBaseUrl}/docs, follow "log in", sign in as ${DEMO_USER.login} / ` +
      `${DEMO_USER.password}, then Try it out and Execute (Ctrl-C stops everything).`,
  );
} else if (!stopping) {
  log(
    `ready: open http://localhost:${bffPort}/docs, click Authorize and enter any bearer token, ` +
      'then Try it out and Execute (Ctrl-C stops both).',
  );
}
