import { writeFileSync } from 'node:fs';
import { createApp } from '../app.factory';
import { loadAppConfig } from '../config/app.config';
import { buildOpenApiDocument } from './swagger';

/** Placeholder config: building the document needs no upstream and opens no port. */
export const SPEC_GENERATION_ENV = {
  UPSTREAM_BASE_URL: 'https://upstream.invalid',
  UPSTREAM_SESSION_TOKEN: 'unused',
  DOCS_ENABLED: 'false',
} as const;

/**
 * The session mode's placeholders. Its OpenID client starts discovery at start-up: the issuer is
 * a closed loopback port, so that attempt fails at once and sends nothing anywhere.
 */
const SESSION_GENERATION_ENV = {
  AUTH_MODE: 'session',
  PUBLIC_BASE_URL: 'https://bff.invalid',
  OIDC_ISSUER_URL: 'http://127.0.0.1:9',
  OIDC_ALLOW_INSECURE_HTTP: 'true',
  OIDC_CLIENT_ID: 'placeholder',
  OIDC_CLIENT_SECRET: 'placeholder',
  SESSION_KEYS: Buffer.alloc(32).toString('base64'),
} as const;

/** Where `npm run openapi` writes each mode's document. */
export const OPENAPI_FILES = {
  bearer: 'openapi/openapi.json',
  session: 'openapi/openapi.session.json',
} as const;

export async function generateOpenApiJson(
  mode: keyof typeof OPENAPI_FILES = 'bearer',
): Promise<string> {
  const env =
    mode === 'session'
      ? { ...SPEC_GENERATION_ENV, ...SESSION_GENERATION_ENV }
      : SPEC_GENERATION_ENV;
  const app = await createApp(loadAppConfig({ ...env, LOG_LEVEL: 'silent' }));
  try {
    // Session mode needs a PUBLIC_BASE_URL (its redirect URI): the placeholder's host is no server.
    return `${JSON.stringify(buildOpenApiDocument(app, { relativeServer: true }), null, 2)}\n`;
  } finally {
    await app.close();
  }
}

if (require.main === module) {
  void (async () => {
    for (const [mode, file] of Object.entries(OPENAPI_FILES)) {
      writeFileSync(file, await generateOpenApiJson(mode as keyof typeof OPENAPI_FILES));
    }
  })();
}
