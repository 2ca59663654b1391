import { applyDecorators, SetMetadata } from '@nestjs/common';
import { ApiHeader } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Caller, callerKey } from '../common/caller';
import { ProblemException } from '../common/problem';
import { traceOf } from '../observability/tracing';
import type { Forward } from './forward';
import {
  fingerprintOf,
  IDEMPOTENCY_KEY_PATTERN,
  IdempotencyService,
  parseIdempotencyKey,
} from '../idempotency/idempotency.service';

export const IDEMPOTENT = 'bff:idempotent';

/**
 * Makes a proxied route honour `Idempotency-Key`: at most one upstream call per (caller, key),
 * repeats answered from the stored result. Switched on per route by this metadata, which
 * ForwardPipe reads the way CacheInterceptor reads @CacheKey; @ProxiedRoute() applies it to a POST
 * unless told `idempotent: false`, and to another method when told `idempotent: true`.
 */
export function Idempotent(): MethodDecorator {
  return applyDecorators(
    SetMetadata(IDEMPOTENT, true),
    ApiHeader({
      name: 'Idempotency-Key',
      required: false,
      description:
        'Makes a retry safe: the first request with a key is sent upstream and its answer stored for ' +
        '`IDEMPOTENCY_TTL_S` (24 h); a repeat with the same key and body gets that answer again ' +
        '(`Idempotent-Replayed: true`) without a second create. Not stored, so sent again by a retry: ' +
        'answers to calls the upstream did not process (its 408, 429 or 503, or the BFF refusing ' +
        'before sending). A replayed 502/504 says the first result is unknown; an answer over ' +
        '`IDEMPOTENCY_MAX_RECORD_BYTES` (64 KiB) is replayed as its status and an `answer-not-kept` ' +
        'problem. Keys are scoped to the caller: the verified subject with JWT verification on, else the bearer token. ' +
        'A quoted structured-field string (`"abc"`) is accepted too. Required when `IDEMPOTENCY_REQUIRED=true`.',
      schema: {
        type: 'string',
        pattern: IDEMPOTENCY_KEY_PATTERN,
        maxLength: 257, // 255 characters, and the quotes of the structured-field form
        example: '8e03978e-40d5-43e8-bc93-6894a57f9324',
      },
    }),
  );
}

/**
 * `forward` with Idempotency-Key honoured. The key is read when the handler forwards, after the
 * pipes accepted the body and the path parameters, so a malformed request never takes a key.
 */
export function idempotentForward(
  idempotency: IdempotencyService,
  request: FastifyRequest,
  reply: FastifyReply,
  forward: Forward,
): Forward {
  return async (upstreamRequest) => {
    const key = parseIdempotencyKey(request.headers['idempotency-key']);
    if (key === undefined) {
      if (idempotency.required) {
        throw new ProblemException('malformed-request', 'An Idempotency-Key header is required.');
      }
      return forward(upstreamRequest);
    }
    const { response, replayed } = await idempotency.execute(
      {
        caller: callerKey(request),
        client: (request.caller as Caller).address,
        key,
        // Of what the pipes accepted (they do not rewrite it) and of where it was sent: one key
        // on /42 and on /43, or on two routes, is two different requests.
        fingerprint: fingerprintOf({
          method: request.method,
          route: request.routeOptions.url,
          params: request.params,
          query: request.query,
          body: request.body,
        }),
        requestId: request.id,
        traceId: traceOf(request.raw).traceId,
      },
      // The retry collects this call's answer, so it runs to its end even if the caller leaves.
      () => forward(upstreamRequest, { outliveCaller: true }),
    );
    if (replayed) {
      void reply.header('Idempotent-Replayed', 'true');
      traceOf(request.raw).span?.setAttribute('bff.idempotent_replayed', true);
    }
    return response;
  };
}
