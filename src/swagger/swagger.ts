import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { INestApplication } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { ConfigService } from '@nestjs/config';
import { DocumentBuilder, OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import type { ContentObject, ReferenceObject, SchemaObject, ServerObject } from '@nestjs/swagger';
import type { FastifyInstance } from 'fastify';
import { APP_CONFIG, AppConfig, AppConfigShape } from '../config/app.config';
import { withSessionAuth } from './session-document';

interface PackageInfo {
  readonly name: string;
  readonly version: string;
  readonly description: string;
}

// Two levels up from src/swagger and from dist/swagger alike.
const pkg = JSON.parse(
  readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8'),
) as PackageInfo;

const ACRONYMS = new Set(['api', 'bff']);

/** `interventions-bff` -> `Interventions BFF`: the package name, as a title. */
export function titleFromPackageName(name: string): string {
  return name
    .replace(/^@[^/]+\//, '')
    .split(/[-_]/)
    .filter((word) => word !== '')
    .map((word) =>
      ACRONYMS.has(word) ? word.toUpperCase() : word[0].toUpperCase() + word.slice(1),
    )
    .join(' ');
}

export const API_TITLE = titleFromPackageName(pkg.name);
export const DOCS_PATH = 'docs';

type Schema = SchemaObject | ReferenceObject;

/**
 * An example value built from the examples of a schema's properties (following `$ref`, a
 * single-entry `allOf`, arrays and enums), or undefined when some required part has none.
 */
function exampleFromSchema(
  schema: Schema | undefined,
  document: OpenAPIObject,
  seen: ReadonlySet<string> = new Set(),
): unknown {
  if (schema === undefined) return undefined;
  if ('$ref' in schema) {
    const name = schema.$ref.replace('#/components/schemas/', '');
    if (seen.has(name)) return undefined;
    return exampleFromSchema(
      document.components?.schemas?.[name],
      document,
      new Set([...seen, name]),
    );
  }
  if (schema.example !== undefined) return schema.example;
  if (schema.allOf?.length === 1) return exampleFromSchema(schema.allOf[0], document, seen);
  if (schema.enum !== undefined && schema.enum.length > 0) return schema.enum[0];
  if (schema.type === 'array') {
    const item = exampleFromSchema(schema.items, document, seen);
    return item === undefined ? undefined : [item];
  }
  if (schema.properties === undefined) return undefined;
  const example: Record<string, unknown> = {};
  for (const [name, property] of Object.entries(schema.properties)) {
    const value = exampleFromSchema(property, document, seen);
    if (value === undefined) {
      if (schema.required?.includes(name)) return undefined;
      continue;
    }
    example[name] = value;
  }
  return example;
}

function addExamples(content: ContentObject | undefined, document: OpenAPIObject): void {
  for (const media of Object.values(content ?? {})) {
    if (media.example !== undefined || media.examples !== undefined) continue;
    const example = exampleFromSchema(media.schema, document);
    if (example !== undefined) media.example = example;
  }
}

/**
 * Gives every request and response body an explicit example, built from the examples of the
 * DTOs' properties when the route declares none: Swagger UI prefills "Try it out" with it, and
 * tools that only read media-type examples (mock servers, API clients) get one too.
 */
export function withBodyExamples(document: OpenAPIObject): OpenAPIObject {
  for (const item of Object.values(document.paths)) {
    for (const operation of [item.get, item.put, item.post, item.delete, item.patch]) {
      if (operation === undefined) continue;
      if (operation.requestBody && !('$ref' in operation.requestBody)) {
        addExamples(operation.requestBody.content, document);
      }
      for (const response of Object.values(operation.responses)) {
        if (response && !('$ref' in response)) addExamples(response.content, document);
      }
    }
  }
  return document;
}

const NEVER_KEPT =
  'The BFF never logs it, never stores it (idempotency keys and rate-limit counters use its SHA-256 ' +
  'hash or its verified subject) and never puts it in an answer.';

/**
 * How the BFF handles the caller's token, as RFC 8725 (JWT best practices) asks an API to say: it
 * depends on whether JWT verification is configured, so the document says what this one does.
 */
function bearerDescription(jwt: AppConfig['jwt']): string {
  if (jwt === undefined) {
    return (
      "The caller's bearer token (RFC 6750), usually a JWT. The BFF checks only its form " +
      '(`Bearer <b64token>`) and forwards it to the upstream unchanged, as `Authorization`: it does ' +
      'not decode or verify it, the upstream does, and RFC8725 (JWT best current practices: an ' +
      'explicit algorithm allow-list, no `alg: none`, issuer, audience and expiry checked) applies ' +
      `there. ${NEVER_KEPT}`
    );
  }
  return (
    "The caller's bearer token (RFC 6750), a JWT the BFF verifies before anything is sent upstream " +
    '(RFC8725, JWT best current practices): its signature against the keys of the configured JWKS, an algorithm among ' +
    `${jwt.algorithms.join(', ')} (never \`none\` or a symmetric one), its issuer, its audience, ` +
    `and \`exp\`/\`nbf\` within ${jwt.clockToleranceSeconds} s of clock skew; a token that fails is a 401. ` +
    `It is then forwarded unchanged, as \`Authorization\`. ${NEVER_KEPT}`
  );
}

/**
 * `relativeServer`: the server is `/` whatever PUBLIC_BASE_URL says, for a document committed to
 * the repository rather than served by one deployment.
 */
export function buildOpenApiDocument(
  app: INestApplication,
  { relativeServer = false } = {},
): OpenAPIObject {
  const { session, jwt, ...settings } = app
    .get(ConfigService<AppConfigShape, true>)
    .getOrThrow(APP_CONFIG, { infer: true });
  const publicBaseUrl = relativeServer ? undefined : settings.publicBaseUrl;
  const config = new DocumentBuilder()
    .setTitle(API_TITLE)
    .setDescription(pkg.description)
    .setVersion(pkg.version)
    .addBearerAuth({
      type: 'http',
      scheme: 'bearer',
      bearerFormat: 'JWT',
      description: bearerDescription(jwt),
    })
    .addTag(
      'Interventions',
      'Maintenance interventions, created on the maintenance-management API.',
    )
    .build();
  config.servers = [
    {
      // Relative by default: Swagger UI and other clients resolve it against the document's own
      // address, so "Try it out" reaches the BFF on whatever host and port served the page.
      url: publicBaseUrl ?? '/',
      description:
        'The BFF at `PUBLIC_BASE_URL`; when that is unset, the BFF that served this document, in ' +
        'whichever environment (local, staging, production) it runs.',
      // For internal web frontends, not the public (OWASP API9: declare each server's audience).
      'x-internal': true,
    } as ServerObject,
  ];
  const document = withBodyExamples(
    SwaggerModule.createDocument(app, config, {
      operationIdFactory: (_controllerKey, methodKey) => methodKey,
    }),
  );
  return session === undefined ? document : withSessionAuth(document);
}

/**
 * Runs in the browser (Swagger UI serialises it into its init script): every request of the page
 * carries the session mode's CSRF header; the cookie goes by itself on a same-origin request.
 */
function addCsrfHeader(request: { headers: Record<string, string> }) {
  request.headers['X-CSRF'] = '1';
  return request;
}

/** What Swagger UI's page loads from swagger-ui-dist: nothing else of that folder is served. */
const SWAGGER_UI_FILES = new Set([
  'swagger-ui.css',
  'swagger-ui-bundle.js',
  'swagger-ui-standalone-preset.js',
  'favicon-32x32.png',
  'favicon-16x16.png',
]);

/**
 * Narrows what @nestjs/swagger's UI serves, through Fastify's onRoute hook (so no request
 * elsewhere pays for it): its static route serves the whole swagger-ui-dist folder (its
 * package.json, 1.9 MB source maps), and its page at `/docs/` picks its asset paths by whether the
 * URL ends with `/`, query included, so `/docs/?x` and `/docs/index.html` loaded them from
 * `/docs/docs/…` (a blank page): those are sent to `/docs/` (the query means nothing to the page;
 * deep links use the fragment).
 */
function narrowSwaggerUi(fastify: FastifyInstance): void {
  const folder = `/${DOCS_PATH}/`;
  fastify.addHook('onRoute', (route) => {
    if (route.url === `${folder}*`) {
      route.preHandler = (request, reply, done) => {
        const file = (request.params as Record<string, string>)['*'];
        if (SWAGGER_UI_FILES.has(file)) return done();
        reply.callNotFound();
      };
    } else if (route.url === folder || route.url === `${folder}index.html`) {
      route.preHandler = (request, reply, done) => {
        if (request.url === folder) return done();
        void reply.redirect(folder, 302);
      };
    }
  });
}

export function setupSwagger(app: NestFastifyApplication, document: OpenAPIObject): void {
  const sessionMode =
    app.get(ConfigService<AppConfigShape, true>).getOrThrow(APP_CONFIG, { infer: true }).session !==
    undefined;
  narrowSwaggerUi(app.getHttpAdapter().getInstance());
  SwaggerModule.setup(DOCS_PATH, app, document, {
    jsonDocumentUrl: `${DOCS_PATH}-json`,
    customSiteTitle: API_TITLE,
    swaggerOptions: {
      // The bearer token survives a page reload (kept in this browser's localStorage).
      persistAuthorization: true,
      displayRequestDuration: true,
      tryItOutEnabled: false,
      // Never send the document to swagger.io's online validator.
      validatorUrl: null,
      ...(sessionMode && { requestInterceptor: addCsrfHeader }),
    },
  });
}
