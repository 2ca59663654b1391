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

export async function generateOpenApiJson(): Promise<string> {
  const app = await createApp(loadAppConfig({ ...SPEC_GENERATION_ENV, LOG_LEVEL: 'silent' }));
  try {
    return `${JSON.stringify(buildOpenApiDocument(app), null, 2)}\n`;
  } finally {
    await app.close();
  }
}

if (require.main === module) {
  const target = process.argv[2] ?? 'openapi/openapi.json';
  void generateOpenApiJson().then((json) => writeFileSync(target, json));
}
