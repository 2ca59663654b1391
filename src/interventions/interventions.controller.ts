import { Body, Controller, Post, Req, Res, UseGuards } from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiBody,
  ApiCreatedResponse,
  ApiHeader,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { BearerAuthGuard } from '../common/bearer-auth.guard';
import { whenCallerLeaves } from '../common/caller-abort';
import { callerKey } from '../common/caller';
import { ProblemException } from '../common/problem';
import {
  fingerprintOf,
  IDEMPOTENCY_KEY_PATTERN,
  IdempotencyService,
  parseIdempotencyKey,
} from '../idempotency/idempotency.service';
import type { StoredResponse } from '../idempotency/idempotency.store';
import type { UpstreamCallContext } from '../upstream/upstream.client';
import { ApiProblemResponse } from '../swagger/api-problem-response.decorator';
import { CreatePreventiveInterventionDto } from './dto/create-preventive-intervention.dto';
import { CreatedInterventionResponseDto } from './dto/intervention.dto';
import { InterventionsService, PREVENTIVE_ROUTINE_PATH } from './interventions.service';

const RETRY_AFTER = {
  'Retry-After': {
    description: 'Seconds to wait before trying again.',
    schema: { type: 'integer' as const },
  },
};

@ApiTags('Interventions')
@Controller()
export class InterventionsController {
  constructor(
    private readonly interventions: InterventionsService,
    private readonly idempotency: IdempotencyService,
  ) {}

  @Post(PREVENTIVE_ROUTINE_PATH)
  @UseGuards(BearerAuthGuard)
  @ApiBearerAuth()
  @ApiOperation({
    operationId: 'createPreventiveInterventionScheduled',
    summary: 'Create preventive intervention scheduled',
    description:
      'Creates a preventive intervention based on a maintenance routine. The BFF validates the body, adds the ' +
      "upstream session token, forwards exactly the four fields with the caller's bearer token, and relays the " +
      "upstream's answer. It never retries a create that may have reached the upstream.",
  })
  @ApiBody({
    type: CreatePreventiveInterventionDto,
    description: 'Contains the data needed to create a preventive intervention based on a routine.',
  })
  @ApiHeader({
    name: 'Idempotency-Key',
    required: false,
    description:
      'Makes a retry safe: the first request with a key is sent upstream and its answer stored for ' +
      '`IDEMPOTENCY_TTL_S` (24 h); a repeat with the same key and body gets that answer again ' +
      '(`Idempotent-Replayed: true`) without a second create. Keys are scoped to the bearer token. ' +
      'A quoted structured-field string (`"abc"`) is accepted too. Required when `IDEMPOTENCY_REQUIRED=true`.',
    schema: {
      type: 'string',
      pattern: IDEMPOTENCY_KEY_PATTERN,
      example: '8e03978e-40d5-43e8-bc93-6894a57f9324',
    },
  })
  @ApiCreatedResponse({
    description: 'The preventive intervention has been created.',
    type: CreatedInterventionResponseDto,
    headers: {
      'Idempotent-Replayed': {
        description:
          '`true` when this is the stored answer to an earlier request with the same Idempotency-Key.',
        schema: { type: 'string', enum: ['true'] },
      },
    },
  })
  @ApiProblemResponse({
    status: 400,
    kind: 'validation-failed',
    description:
      'The body is not a JSON object, is malformed JSON, or fails validation (one entry per field in ' +
      '`errors`); or the Idempotency-Key is malformed, or missing while required.',
    detail: 'The request body is invalid.',
    errors: [{ field: 'scheduledEnd', message: 'scheduledEnd must be later than scheduledStart' }],
  })
  @ApiProblemResponse({
    status: 401,
    kind: 'unauthorized',
    description:
      'No `Authorization: Bearer <token>` header, or not of that form. Nothing is sent upstream.',
    detail: 'An Authorization header with a Bearer token is required.',
    headers: {
      'WWW-Authenticate': { description: 'Always `Bearer`.', schema: { type: 'string' } },
    },
  })
  @ApiProblemResponse({
    status: '4XX',
    kind: 'upstream-rejected',
    description:
      "The upstream rejected the request: its status and its own JSON body are relayed unchanged (the example shows the problem sent when the upstream's body is not JSON). On 429, `Retry-After` and `RateLimit*` are passed on.",
    detail: 'The upstream API rejected the request with status 403.',
  })
  @ApiProblemResponse({
    status: 409,
    kind: 'idempotency-key-in-use',
    description:
      'A request with the same Idempotency-Key is still in progress: retry after `Retry-After`.',
    detail: 'A request with this Idempotency-Key is still in progress.',
    headers: RETRY_AFTER,
  })
  @ApiProblemResponse({
    status: 422,
    kind: 'idempotency-key-reused',
    description: 'The Idempotency-Key was already used by this caller with another request body.',
    detail: 'This Idempotency-Key was used with another request body.',
  })
  @ApiProblemResponse({
    status: 413,
    kind: 'payload-too-large',
    description: 'The body is larger than 16 KiB.',
    detail: 'Request body is too large',
  })
  @ApiProblemResponse({
    status: 415,
    kind: 'unsupported-media-type',
    description: 'The body is not sent as `Content-Type: application/json`.',
    detail: 'Content-Type must be application/json.',
  })
  @ApiProblemResponse({
    status: 429,
    kind: 'too-many-requests',
    description:
      'More than `RATE_LIMIT_PER_MINUTE` requests from this caller (by bearer token, else address) in a minute.',
    detail: 'More than 120 requests per 60 s; retry in 42 s.',
    headers: {
      ...RETRY_AFTER,
      'RateLimit-Policy': {
        description: 'The policy, e.g. `"per-caller";q=120;w=60`.',
        schema: { type: 'string' },
      },
      RateLimit: {
        description: 'What is left, e.g. `"per-caller";r=0;t=42`.',
        schema: { type: 'string' },
      },
    },
  })
  @ApiProblemResponse({
    status: 502,
    kind: 'bad-gateway',
    description:
      'The upstream failed (5xx), could not be reached, closed the connection, or sent an invalid answer.',
    detail: 'The upstream API failed with status 500.',
  })
  @ApiProblemResponse({
    status: 503,
    kind: 'upstream-unavailable',
    description:
      'The upstream cannot be used now: it answered 503 (its `Retry-After` is passed on), it is failing and ' +
      'the circuit breaker is open, too many calls are in flight, the upstream session token has expired, ' +
      'or an Idempotency-Key was sent while the shared idempotency store (Redis) is unreachable.',
    detail: 'The upstream API is failing; requests are paused for a short while.',
    headers: RETRY_AFTER,
  })
  @ApiProblemResponse({
    status: 504,
    kind: 'gateway-timeout',
    description: 'The upstream did not answer within the deadline (`UPSTREAM_TIMEOUT_MS`).',
    detail: 'The upstream API did not answer within 10000 ms.',
  })
  async create(
    @Body() dto: CreatePreventiveInterventionDto,
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    const key = parseIdempotencyKey(request.headers['idempotency-key']);
    if (key === undefined && this.idempotency.required) {
      throw new ProblemException('malformed-request', 'An Idempotency-Key header is required.');
    }
    const context: UpstreamCallContext = {
      authorization: request.headers.authorization as string,
      requestId: request.id,
      report: (call) => (request.upstreamCall = call),
    };
    if (key === undefined) {
      // Nobody can collect the answer once the caller is gone: stop the upstream call too.
      const answer = await this.interventions.createFromRoutine(dto, {
        ...context,
        whenCallerLeaves: whenCallerLeaves(reply),
      });
      return send(reply, answer);
    }
    // With a key the call runs to its end even if the caller leaves: the retry collects its result.
    const { response, replayed } = await this.idempotency.execute(
      { caller: callerKey(request), key, fingerprint: fingerprintOf(dto), requestId: request.id },
      () => this.interventions.createFromRoutine(dto, context),
    );
    if (replayed) void reply.header('Idempotent-Replayed', 'true');
    return send(reply, response);
  }
}

async function send(reply: FastifyReply, response: StoredResponse): Promise<void> {
  await reply
    .status(response.status)
    .headers(response.headers)
    .type(response.contentType)
    .send(response.body);
}
