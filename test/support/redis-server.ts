import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './free-port';

export interface RedisOptions {
  /** Persist with an AOF in this folder (`appendfsync everysec`, as docker-compose runs it). */
  readonly aofDir?: string;
  /** A replica of the Redis on this port. */
  readonly replicaOf?: number;
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
    const replication =
      options.replicaOf === undefined
        ? []
        : ['--replicaof', '127.0.0.1', String(options.replicaOf)];
    this.process = await startRedisProcess([
      '--port',
      String(this.port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      ...persistence,
      ...replication,
    ]);
  }

  async stop(): Promise<void> {
    const child = this.process;
    // A process killed by a signal has no exit code, only a signal code.
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    });
  }
}

/** redis-server with these arguments, once it has printed `ready` (it accepts connections then). */
async function startRedisProcess(
  args: string[],
  ready = 'Ready to accept connections',
): Promise<ChildProcess> {
  const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  await new Promise<void>((resolve, reject) => {
    let output = '';
    const timer = setTimeout(
      () => reject(new Error(`redis-server did not start:\n${output}`)),
      10_000,
    );
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes(ready)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.on('exit', () => reject(new Error(`redis-server exited:\n${output}`)));
  });
  return child;
}

/**
 * A real Redis Sentinel (redis-server --sentinel) on a free loopback port, watching the primary
 * on `primaryPort` as `name`, alone in its quorum, calling it down after `downAfterMs`.
 */
export class RedisSentinel {
  /** What it has printed since it started: its view of the failover, for a failing test to show. */
  log = '';

  private constructor(
    readonly port: number,
    private readonly process: ChildProcess,
    private readonly dir: string,
  ) {
    process.stdout?.on('data', (chunk: Buffer) => (this.log += chunk.toString()));
  }

  static async start(
    name: string,
    primaryPort: number,
    downAfterMs = 1_000,
  ): Promise<RedisSentinel> {
    const port = await freePort();
    // Sentinel rewrites its configuration file: one of its own in a temporary folder.
    const dir = mkdtempSync(join(tmpdir(), 'sentinel-'));
    const file = join(dir, 'sentinel.conf');
    writeFileSync(
      file,
      [
        `port ${port}`,
        'bind 127.0.0.1',
        `dir ${dir}`,
        `sentinel monitor ${name} 127.0.0.1 ${primaryPort} 1`,
        `sentinel down-after-milliseconds ${name} ${downAfterMs}`,
        `sentinel failover-timeout ${name} 10000`,
        '',
      ].join('\n'),
    );
    const child = await startRedisProcess([file, '--sentinel'], '+monitor master').catch(
      (error: unknown) => {
        rmSync(dir, { recursive: true, force: true });
        throw error;
      },
    );
    return new RedisSentinel(port, child, dir);
  }

  /** The address REDIS_SENTINELS takes. */
  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  async stop(): Promise<void> {
    if (this.process.exitCode === null && this.process.signalCode === null) {
      await new Promise<void>((resolve) => {
        this.process.once('exit', () => resolve());
        this.process.kill('SIGKILL');
      });
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
