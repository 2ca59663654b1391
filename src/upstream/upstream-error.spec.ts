import { ProblemException } from '../common/problem';
import { ResponseTooLargeError } from './undici.adapter';
import {
  AbortState,
  callEffect,
  CallEffect,
  classifyTransportError,
  UpstreamError,
  UpstreamFailure,
  UpstreamFailureOutcome,
} from './upstream-error';

/** Looks like a real credential so that a leak into the problem body is unmistakable. */
const FAKE_TOKEN = 'eyJhbGciOiJIUzI1NiJ9.fake-session-token-7c1d.sig';
const LEAKY_MESSAGE = `connect failed for http://upstream.internal:8443/main with X-Session-Token: ${FAKE_TOKEN}`;

const NOT_ABORTED: AbortState = { timedOut: false, callerAborted: false, timeoutMs: 10_000 };

function errorWithCode(code: string): Error {
  return Object.assign(new Error(LEAKY_MESSAGE), { code });
}

function expectCleanProblem(error: UpstreamError, status: number, kind: string): void {
  expect(error).toBeInstanceOf(ProblemException);
  expect(error.getStatus()).toBe(status);
  const { problem } = error;
  expect(problem.type).toMatch(new RegExp(`${kind}$`));
  expect(problem.status).toBe(status);
  expect(typeof problem.title).toBe('string');
  expect(problem.title.length).toBeGreaterThan(0);
  expect(typeof problem.detail).toBe('string');
  expect(problem.detail.length).toBeGreaterThan(0);
  const json = JSON.stringify(problem);
  expect(json).not.toContain(FAKE_TOKEN);
  expect(json).not.toContain('upstream.internal');
  expect(json).not.toContain('X-Session-Token');
  expect(json).not.toMatch(/\bat .+:\d+:\d+/); // no stack frames
}

describe('classifyTransportError', () => {
  it.each<[string, unknown, AbortState, UpstreamFailureOutcome, boolean, number, string]>([
    [
      'our deadline passed',
      errorWithCode('ABORT_ERR'),
      { ...NOT_ABORTED, timedOut: true, timeoutMs: 1234 },
      'timeout',
      true,
      504,
      'gateway-timeout',
    ],
    [
      'the caller went away',
      errorWithCode('ABORT_ERR'),
      { ...NOT_ABORTED, callerAborted: true },
      'aborted',
      true,
      499,
      'client-closed-request',
    ],
    [
      'ECONNREFUSED',
      errorWithCode('ECONNREFUSED'),
      NOT_ABORTED,
      'refused',
      false,
      502,
      'bad-gateway',
    ],
    ['ENOTFOUND', errorWithCode('ENOTFOUND'), NOT_ABORTED, 'refused', false, 502, 'bad-gateway'],
    [
      'UND_ERR_CONNECT_TIMEOUT',
      errorWithCode('UND_ERR_CONNECT_TIMEOUT'),
      NOT_ABORTED,
      'refused',
      false,
      502,
      'bad-gateway',
    ],
    [
      'undici refused to build the request (a header value it cannot send)',
      errorWithCode('UND_ERR_INVALID_ARG'),
      NOT_ABORTED,
      'local_error',
      false,
      500,
      'internal-error',
    ],
    ['ECONNRESET', errorWithCode('ECONNRESET'), NOT_ABORTED, 'reset', true, 502, 'bad-gateway'],
    [
      'UND_ERR_SOCKET',
      errorWithCode('UND_ERR_SOCKET'),
      NOT_ABORTED,
      'reset',
      true,
      502,
      'bad-gateway',
    ],
    ['EPIPE', errorWithCode('EPIPE'), NOT_ABORTED, 'reset', true, 502, 'bad-gateway'],
    [
      'a response over the size limit',
      new ResponseTooLargeError(LEAKY_MESSAGE),
      NOT_ABORTED,
      'invalid_response',
      true,
      502,
      'bad-gateway',
    ],
    [
      'an HTTP parser error (HPE_INVALID_CONSTANT)',
      errorWithCode('HPE_INVALID_CONSTANT'),
      NOT_ABORTED,
      'invalid_response',
      true,
      502,
      'bad-gateway',
    ],
    [
      'a plain Error',
      new Error(LEAKY_MESSAGE),
      NOT_ABORTED,
      'invalid_response',
      true,
      502,
      'bad-gateway',
    ],
    ['a thrown string', LEAKY_MESSAGE, NOT_ABORTED, 'invalid_response', true, 502, 'bad-gateway'],
    ['null', null, NOT_ABORTED, 'invalid_response', true, 502, 'bad-gateway'],
  ])('%s', (_name, error, abort, outcome, reachedUpstream, status, kind) => {
    const failure = classifyTransportError(error, abort);
    expect(failure.outcome).toBe(outcome);
    expect(failure.reachedUpstream).toBe(reachedUpstream);
    expect(failure.detail).not.toContain(FAKE_TOKEN);
    expectCleanProblem(new UpstreamError(failure), status, kind);
  });

  it('a timeout wins over the error code, and its detail gives the deadline', () => {
    const failure = classifyTransportError(errorWithCode('ECONNREFUSED'), {
      ...NOT_ABORTED,
      timedOut: true,
      timeoutMs: 1234,
    });
    expect(failure.outcome).toBe('timeout');
    expect(failure.detail).toContain('1234 ms');
  });

  it('tells a too-large response apart from an otherwise invalid one', () => {
    const tooLarge = classifyTransportError(new ResponseTooLargeError('x'), NOT_ABORTED);
    const invalid = classifyTransportError(new Error('x'), NOT_ABORTED);
    expect(tooLarge.detail).toMatch(/larger/);
    expect(invalid.detail).not.toBe(tooLarge.detail);
  });
});

describe('UpstreamError', () => {
  it('an upstream 503 stays 503 as upstream-unavailable, with Retry-After passed on', () => {
    const failure: UpstreamFailure = {
      outcome: 'upstream_5xx',
      reachedUpstream: true,
      upstreamStatus: 503,
      detail: 'The upstream API failed with status 503.',
      headers: { 'retry-after': '7' },
    };
    const error = new UpstreamError(failure);
    expectCleanProblem(error, 503, 'upstream-unavailable');
    expect(error.headers).toEqual({ 'retry-after': '7' });
    expect(error.failure).toBe(failure);
  });

  it.each([500, 502, 504])('an upstream %i becomes a 502 bad-gateway', (upstreamStatus) => {
    const error = new UpstreamError({
      outcome: 'upstream_5xx',
      reachedUpstream: true,
      upstreamStatus,
      detail: `The upstream API failed with status ${upstreamStatus}.`,
    });
    expectCleanProblem(error, 502, 'bad-gateway');
    expect(error.headers).toEqual({});
  });

  it.each([400, 403, 404, 409, 422, 429])(
    'an upstream %i keeps its status as upstream-rejected',
    (upstreamStatus) => {
      const error = new UpstreamError({
        outcome: 'upstream_4xx',
        reachedUpstream: true,
        upstreamStatus,
        detail: `The upstream API rejected the request with status ${upstreamStatus}.`,
      });
      expectCleanProblem(error, upstreamStatus, 'upstream-rejected');
      expect(error.problem.detail).toContain(String(upstreamStatus));
    },
  );

  it('an upstream 403 gives the problem body type/title/status/detail and nothing else', () => {
    const error = new UpstreamError({
      outcome: 'upstream_4xx',
      reachedUpstream: true,
      upstreamStatus: 403,
      detail: 'The upstream API rejected the request with status 403.',
    });
    expect(error.getStatus()).toBe(403);
    expect(error.problem).toEqual({
      type: expect.stringMatching(/upstream-rejected$/),
      title: 'Rejected by the upstream API',
      status: 403,
      detail: 'The upstream API rejected the request with status 403.',
    });
  });

  it('an invalid 2xx answer is a 502', () => {
    const error = new UpstreamError({
      outcome: 'invalid_response',
      reachedUpstream: true,
      upstreamStatus: 200,
      detail: 'The upstream API sent an invalid response.',
    });
    expectCleanProblem(error, 502, 'bad-gateway');
  });
});

describe('callEffect: what an Idempotency-Key keeps of a call', () => {
  const failure = (
    outcome: UpstreamFailureOutcome,
    reachedUpstream: boolean,
    upstreamStatus?: number,
  ): UpstreamFailure => ({ outcome, reachedUpstream, upstreamStatus, detail: 'd' });

  it.each<[string, CallEffect, number | UpstreamFailure]>([
    ['a 201', 'done', 201],
    ['a relayed 404', 'done', 404],
    ['a relayed 409', 'done', 409],
    ['a relayed 429 (not processed: retry later)', 'not_done', 429],
    ['a relayed 408', 'not_done', 408],
    ['a non-JSON 403', 'done', failure('upstream_4xx', true, 403)],
    ['a non-JSON 429', 'not_done', failure('upstream_4xx', true, 429)],
    ['an upstream 503', 'not_done', failure('upstream_5xx', true, 503)],
    ['an upstream 500', 'unknown', failure('upstream_5xx', true, 500)],
    ['an upstream 504', 'unknown', failure('upstream_5xx', true, 504)],
    ['a timeout after sending', 'unknown', failure('timeout', true)],
    ['a reset after sending', 'unknown', failure('reset', true)],
    ['an invalid 2xx answer', 'unknown', failure('invalid_response', true, 200)],
    ['an answer over the size limit', 'unknown', failure('invalid_response', true)],
    ['a refused connection', 'not_done', failure('refused', false)],
    ['the breaker open', 'not_done', failure('circuit_open', false)],
    ['the in-flight bound', 'not_done', failure('overloaded', false)],
    ['a request the BFF could not build', 'not_done', failure('local_error', false)],
  ])('%s: %s', (_name, effect, answer) => expect(callEffect(answer)).toBe(effect));
});
