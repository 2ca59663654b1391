import type { DestinationStream } from 'pino';

/** Collects the BFF's log lines in memory, to read them or grep them for secrets. */
export class LogCapture implements DestinationStream {
  readonly lines: string[] = [];

  write(line: string): void {
    this.lines.push(line);
  }

  get text(): string {
    return this.lines.join('');
  }

  entries(): Record<string, unknown>[] {
    return this.lines.map((line) => JSON.parse(line) as Record<string, unknown>);
  }

  accessLines(): Record<string, unknown>[] {
    return this.entries().filter((entry) => entry.msg === 'request completed');
  }
}
