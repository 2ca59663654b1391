import pino from 'pino';
import { RequestLogger } from './logger';

function capture() {
  const lines: Record<string, unknown>[] = [];
  const logger = pino(
    { level: 'info', base: undefined },
    { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) },
  );
  return { logger, lines };
}

describe('RequestLogger', () => {
  it('makes no pino child for a request that does not log', () => {
    const { logger } = capture();
    const child = jest.spyOn(logger, 'child');
    const requestLogger = new RequestLogger(logger, { requestId: 'r1' }, { level: 'info' });
    expect(requestLogger.level).toBe('info');
    expect(child).not.toHaveBeenCalled();
  });

  it("writes the request's bindings on each line, through one child, at the child's level", () => {
    const { logger, lines } = capture();
    const child = jest.spyOn(logger, 'child');
    const requestLogger = new RequestLogger(logger, { requestId: 'r1' }, { level: 'warn' });
    requestLogger.info('not written: below warn');
    requestLogger.error({ status: 500 }, 'failed');
    requestLogger.warn('again');
    expect(lines).toEqual([
      expect.objectContaining({ requestId: 'r1', status: 500, msg: 'failed', level: 50 }),
      expect.objectContaining({ requestId: 'r1', msg: 'again', level: 40 }),
    ]);
    expect(child).toHaveBeenCalledTimes(1);
    expect(requestLogger.level).toBe('warn');
  });
});
