import { ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { SESSION_TOKEN } from './bff';
import { freePort } from './free-port';

const MAIN = join(__dirname, '..', '..', 'dist', 'main.js');

export interface BuiltBff {
  readonly url: string;
  readonly child: ChildProcess;
  /** The exit code after SIGTERM (a graceful shutdown exits 0). */
  readonly exited: Promise<number | null>;
  output(): string;
  kill(): void;
}

/**
 * dist/main.js in a child process, ready on a free loopback port. For what only a real process
 * shows: signals, and libraries (the OTLP exporters) that load modules with a dynamic import(),
 * which jest's module sandbox cannot run.
 */
export async function startBuiltBff(env: Record<string, string>): Promise<BuiltBff> {
  if (!existsSync(MAIN))
    throw new Error('dist/main.js is missing: run npm run build (npm test does)');
  const port = await freePort();
  const child = spawn(process.execPath, [MAIN], {
    env: {
      PATH: process.env.PATH,
      UPSTREAM_SESSION_TOKEN: SESSION_TOKEN,
      RATE_LIMIT_PER_MINUTE: '0',
      PORT: String(port),
      HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk) => (output += chunk));
  child.stderr?.on('data', (chunk) => (output += chunk));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const url = `http://127.0.0.1:${port}`;
  for (let attempt = 0; ; attempt += 1) {
    const live = await fetch(`${url}/health/live`).then(
      (res) => res.ok,
      () => false,
    );
    if (live) break;
    if (attempt > 150 || child.exitCode !== null)
      throw new Error(`the app did not start:\n${output}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { url, child, exited, output: () => output, kill: () => child.kill('SIGKILL') };
}
