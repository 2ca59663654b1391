import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { freePort } from './free-port';

export interface RedisOptions {
  /** Persist with an AOF in this folder (`appendfsync everysec`, as docker-compose runs it). */
  readonly aofDir?: string;
}

/**
 * A real redis-server of the test's own, on a free loopback port: without persistence, or with an
 * AOF in `aofDir` as docker-compose runs it.
 */
export class RedisServer {
  private process?: ChildProcess;

  private constructor(
    readonly port: number,
    private options: RedisOptions,
  ) {}

  static async start(options: RedisOptions = {}): Promise<RedisServer> {
    if (spawnSync('redis-server', ['--version']).error) {
      throw new Error('redis-server not found: apt-get install redis-server');
    }
    const server = new RedisServer(await freePort(), options);
    await server.restart();
    return server;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Starts it again on the same port: empty without persistence, else from its AOF. */
  async restart(options = this.options): Promise<void> {
    this.options = options;
    const persistence = options.aofDir
      ? ['--dir', options.aofDir, '--appendonly', 'yes', '--appendfsync', 'everysec']
      : // A snapshot (BGSAVE) goes to the temp folder, never the working tree.
        ['--appendonly', 'no', '--dir', tmpdir(), '--dbfilename', `redis-test-${this.port}.rdb`];
    const child = spawn(
      'redis-server',
      ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', ...persistence],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.process = child;
    await new Promise<void>((resolve, reject) => {
      let output = '';
      const timer = setTimeout(
        () => reject(new Error(`redis-server did not start:\n${output}`)),
        10_000,
      );
      child.stdout?.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes('Ready to accept connections')) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.on('exit', () => reject(new Error(`redis-server exited:\n${output}`)));
    });
  }

  async stop(): Promise<void> {
    const child = this.process;
    if (!child || child.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    });
  }
}
