import { ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { dirname, join } from 'node:path';
import { freePort } from './free-port';
import { RunningBff, startBff } from './bff';

/** The upstream contract Prism serves: the same document as `npm run demo` and docker-compose. */
export const UPSTREAM_DOCUMENT = join(
  __dirname,
  '..',
  '..',
  'openapi',
  'vendor',
  'upstream.openapi.yaml',
);
const READY_LINE = 'Prism is listening on';
const READY_TIMEOUT_MS = 20_000;
const STOP_GRACE_MS = 5_000;

export interface RunningPrism {
  /** Base URL of the mock upstream, e.g. `http://127.0.0.1:41234`. */
  readonly url: string;
  /** Everything Prism printed so far (one entry per chunk), for failure messages. */
  readonly output: readonly string[];
  stop(): Promise<void>;
}

/** The real CLI entry point, run with this Node: an `npx` wrapper would survive being killed. */
function prismCli(): string {
  return join(dirname(require.resolve('@stoplight/prism-cli/package.json')), 'dist', 'index.js');
}

// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[[0-9;]*m/g;

async function stopProcessGroup(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  const kill = (signal: NodeJS.Signals): void => {
    try {
      process.kill(-(child.pid as number), signal);
    } catch {
      // Already gone.
    }
  };
  kill('SIGTERM');
  const timer = setTimeout(() => kill('SIGKILL'), STOP_GRACE_MS);
  await exited;
  clearTimeout(timer);
}

async function startOnce(
  port: number,
): Promise<{ prism?: RunningPrism; output: string[]; failure: string; addressInUse: boolean }> {
  const url = `http://127.0.0.1:${port}`;
  const output: string[] = [];
  // Own process group (detached), so stop() ends Prism and anything it forked.
  const child = spawn(
    process.execPath,
    [prismCli(), 'mock', '-h', '127.0.0.1', '-p', String(port), UPSTREAM_DOCUMENT],
    {
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, FORCE_COLOR: '0' },
    },
  );
  const stop = async (): Promise<void> => {
    await stopProcessGroup(child);
    child.stdout?.destroy();
    child.stderr?.destroy();
  };

  let failure = `Prism did not print "${READY_LINE}" within ${READY_TIMEOUT_MS / 1000} s`;
  const ready = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), READY_TIMEOUT_MS);
    const onData = (chunk: Buffer): void => {
      output.push(chunk.toString('utf8').replace(ANSI, ''));
      if (output.join('').includes(READY_LINE)) {
        clearTimeout(timer);
        resolve(true);
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code, signal) => {
      failure = `Prism exited (${signal ?? `code ${code}`}) before printing "${READY_LINE}"`;
      clearTimeout(timer);
      resolve(false);
    });
    child.once('error', (error) => {
      failure = `Prism could not be started: ${error.message}`;
      clearTimeout(timer);
      resolve(false);
    });
  });

  if (!ready) {
    await stop();
    return { output, failure, addressInUse: output.join('').includes('EADDRINUSE') };
  }
  return { prism: { url, output, stop }, output, failure: '', addressInUse: false };
}

/**
 * Starts Prism mocking the upstream contract on a free loopback port and waits until it listens.
 * Prism answers the documented 201 example to a request that satisfies the contract, and 400/401
 * (with an `sl-violations` header) to one that does not.
 */
export async function startPrism(): Promise<RunningPrism> {
  for (let attempt = 1; ; attempt += 1) {
    const result = await startOnce(await freePort());
    if (result.prism) return result.prism;
    // Lost a race for the port with another process: try another one.
    if (result.addressInUse && attempt < 3) continue;
    throw new Error(
      `${result.failure} (${UPSTREAM_DOCUMENT}). Its output:\n` +
        (result.output.join('').trim() || '(nothing)'),
    );
  }
}

/**
 * The demo's path inside a test file: Prism serving the upstream contract and the BFF pointed at
 * it, started before the file's tests and stopped after them.
 */
export function usePrismAndBff(env: Record<string, string> = {}): {
  readonly prism: RunningPrism;
  readonly bff: RunningBff;
} {
  const running = {} as { prism: RunningPrism; bff: RunningBff };
  beforeAll(async () => {
    running.prism = await startPrism();
    // Any free port and no PUBLIC_BASE_URL: the document's relative server sends Swagger UI's
    // Try it out back to the origin the page came from.
    running.bff = await startBff({ UPSTREAM_BASE_URL: running.prism.url, ...env });
  });
  afterAll(async () => {
    await running.bff?.close();
    await running.prism?.stop();
  });
  return running;
}
