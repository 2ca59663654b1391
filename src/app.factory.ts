import { randomUUID } from 'node:crypto';
import type { IncomingMessage, Server, ServerOptions } from 'node:http';
import type { Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import {
  FastifyError,
  FastifyReply,
  FastifyRequest,
  FastifyServerOptions,
  LogController,
} from 'fastify';
import type { FastifyChildLoggerFactory } from 'fastify/types/logger';
import { Logger } from 'nestjs-pino';
import type { DestinationStream } from 'pino';
import { AppModule } from './app.module';
import { answerClientError } from './common/client-error';
import { ProblemException } from './common/problem';
import { sendProblem, toProblemException } from './common/problem.filter';
import { REQUEST_ID } from './common/request-id';
import { AppConfig } from './config/app.config';
import { ManagementListener } from './management-listener';
import { AccessLog } from './observability/access-log';
import { ProxiedRoutes } from './proxy/proxied-routes';
import { relayUpstreamReplies } from './proxy/relay';
import { createLogger, RequestLogger } from './observability/logger';
import { Tracing } from './observability/tracing';
import { buildOpenApiDocument, setupSwagger } from './swagger/swagger';

export const BODY_LIMIT_BYTES = 16 * 1024;
/**
 * Node 20 keeps about the first 1,000 header lines and silently drops the rest (an Authorization
 * past them reads as missing: a misleading 401); Node 24 refuses them itself. Past this many, the
 * answer is a 431 on both.
 */
export const MAX_HEADER_LINES = 500;

function requestId(request: IncomingMessage): string {
  const given = request.headers['x-request-id'];
  return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
}

function trustedHops(count: number): (address: string, hop: number) => boolean {
  return (_address, hop) => hop < count;
}

const managementListeners = new WeakMap<NestFastifyApplication, ManagementListener>();

export interface CreateAppOptions {
  /** Where log lines go; stdout when absent. Tests capture them here. */
  readonly logDestination?: DestinationStream;
  /** More feature modules; the tests add a second proxied route this way. */
  readonly modules?: readonly Type[];
}

/** Builds the whole application, the same way for main, the tests and the OpenAPI generator. */
export async function createApp(
  config: AppConfig,
  options: CreateAppOptions = {},
): Promise<NestFastifyApplication> {
  const logger = createLogger(config, options.logDestination);
  for (const warning of config.warnings) logger.warn(warning);
  const tracing = new Tracing(config.tracing, logger);
  const fastifyOptions: FastifyServerOptions<Server> & { http: ServerOptions } = {
    loggerInstance: logger,
    // Where Fastify makes each request's logger: the trace starts here, so that every line of the
    // request carries its ids.
    childLoggerFactory: ((parent, bindings, childOptions, raw) => {
      const { traceId, spanId } = tracing.start(raw);
      return new RequestLogger(
        parent,
        { ...bindings, trace_id: traceId, span_id: spanId },
        childOptions,
      );
    }) satisfies FastifyChildLoggerFactory,
    // The access log below writes one line per request instead of Fastify's two.
    logController: new LogController({
      disableRequestLogging: true,
      requestIdLogLabel: 'requestId',
    }),
    genReqId: requestId,
    requestIdHeader: false,
    bodyLimit: BODY_LIMIT_BYTES,
    // Above the usual load balancer idle timeout (60 s), so the balancer closes first.
    keepAliveTimeout: 75_000,
    requestTimeout: 30_000,
    // Node checks these deadlines on this interval (30 s by default, too coarse for the header one).
    http: { headersTimeout: config.headersTimeoutMs, connectionsCheckingInterval: 1_000 },
    return503OnClosing: true,
    // Fastify would answer HEAD on every GET route by running it: a proxied GET would call the
    // upstream for an answer nobody reads.
    exposeHeadRoutes: false,
    clientErrorHandler: answerClientError,
    frameworkErrors: (error: FastifyError, request: FastifyRequest, reply: FastifyReply) =>
      sendProblem(request, reply, toProblemException(error)),
    // Who may say who the client is in X-Forwarded-For (TRUST_PROXY); by default nobody. A hop
    // count is Fastify's own rule for a number, spelled out: its types no longer list numbers.
    trustProxy:
      typeof config.trustProxy === 'number' ? trustedHops(config.trustProxy) : config.trustProxy,
  };
  const adapter = new FastifyAdapter(fastifyOptions);
  // Only the session mode loads its module, openid-client and the cookie plugin (~0.3 s at start).
  const session =
    config.session === undefined ? undefined : await import('./session/session.module.js');
  const app = await NestFactory.create<NestFastifyApplication>(
    AppModule.register(config, logger, tracing, [
      ...(session === undefined ? [] : [session.SessionModule, session.BackchannelLogoutModule]),
      ...(options.modules ?? []),
    ]),
    adapter,
    {
      bodyParser: false,
      abortOnError: false,
      bufferLogs: true,
    },
  );
  app.useLogger(app.get(Logger));
  // Nest's own helmet-compatible headers, computed once and set by one request hook.
  app.useSecurityHeaders({
    contentSecurityPolicy: {
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'", "'unsafe-inline'"],
        imgSrc: ["'self'", 'data:'],
        connectSrc: ["'self'"],
        // Swagger UI may be served over plain http inside a cluster: do not force https on it.
        upgradeInsecureRequests: null,
      },
    },
  });

  const fastify = app.getHttpAdapter().getInstance();
  // JSON only: Fastify would otherwise parse text/plain and forms too. Its default JSON parser
  // rejects `__proto__` and `constructor.prototype` keys.
  fastify.removeAllContentTypeParsers();
  fastify.addContentTypeParser(
    'application/json',
    { parseAs: 'string', bodyLimit: BODY_LIMIT_BYTES },
    fastify.getDefaultJsonParser('error', 'error'),
  );
  if (session !== undefined) session.acceptBackchannelLogoutForm(fastify);
  // One hook for the access line and the request id every response carries.
  const accessLog = app.get(AccessLog);
  accessLog.register(fastify);
  fastify.addHook('onRequest', (request, reply, done) => {
    accessLog.follow(request, reply);
    void reply.header('X-Request-Id', request.id);
    if (request.raw.rawHeaders.length <= 2 * MAX_HEADER_LINES) return done();
    done(
      new ProblemException(
        'header-fields-too-large',
        `More than ${MAX_HEADER_LINES} header fields.`,
      ),
    );
  });
  if (config.managementPort !== undefined) {
    managementListeners.set(app, new ManagementListener(fastify, config.headersTimeoutMs));
  }
  fastify.decorateRequest('forward', null);
  fastify.decorateRequest('caller', null);
  relayUpstreamReplies(fastify, accessLog);
  // Only the session mode reads cookies: bearer mode parses none.
  if (session !== undefined) await app.register(session.fastifyCookie);

  // Without allowed origins CORS adds nothing (no Access-Control-* header is ever sent), so the
  // plugin is not mounted: it would still run a hook on every request.
  if (config.corsOrigins.length > 0) {
    const methods = new Set<string>(
      app
        .get(ProxiedRoutes)
        .list()
        .map((route) => route.method),
    );
    // GET /bff/user and POST /bff/logout, which X-CSRF makes preflighted.
    if (config.session !== undefined) methods.add('GET').add('POST');
    app.enableCors({
      origin: [...config.corsOrigins],
      methods: [...methods],
      ...(config.session === undefined
        ? {
            allowedHeaders: ['Authorization', 'Content-Type', 'X-Request-Id', 'Idempotency-Key'],
          }
        : {
            // The session cookie goes only to these exact origins (never `*`), with X-CSRF.
            credentials: true,
            allowedHeaders: ['X-CSRF', 'Content-Type', 'X-Request-Id', 'Idempotency-Key'],
          }),
      exposedHeaders: [
        'X-Request-Id',
        'Retry-After',
        'RateLimit',
        'RateLimit-Policy',
        'Idempotent-Replayed',
      ],
      maxAge: 600,
    });
  }

  if (config.docsEnabled) setupSwagger(app, buildOpenApiDocument(app));
  await app.init();
  return app;
}

/**
 * Listens on PORT, then on MANAGEMENT_PORT when set: readiness is served only once the API is
 * reachable. Resolves with the management port listened on.
 */
export async function listen(
  app: NestFastifyApplication,
  { port, host, managementPort }: Pick<AppConfig, 'port' | 'host' | 'managementPort'>,
): Promise<{ managementPort?: number }> {
  await app.listen({ port, host });
  const management = managementListeners.get(app);
  if (management === undefined || managementPort === undefined) return {};
  return { managementPort: await management.listen(managementPort, host) };
}
