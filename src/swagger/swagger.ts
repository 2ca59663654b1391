import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, OpenAPIObject, SwaggerModule } from '@nestjs/swagger';

interface PackageInfo {
  readonly name: string;
  readonly version: string;
  readonly description: string;
}

// Two levels up from src/swagger and from dist/swagger alike.
const pkg = JSON.parse(
  readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8'),
) as PackageInfo;

export const DOCS_PATH = 'docs';

export function buildOpenApiDocument(app: INestApplication): OpenAPIObject {
  const config = new DocumentBuilder()
    .setTitle('Interventions BFF')
    .setDescription(pkg.description)
    .setVersion(pkg.version)
    .addBearerAuth({
      type: 'http',
      scheme: 'bearer',
      description: "The caller's bearer token, forwarded to the upstream unchanged.",
    })
    .addTag(
      'Interventions',
      'Maintenance interventions, created on the maintenance-management API.',
    )
    .build();
  return SwaggerModule.createDocument(app, config, {
    operationIdFactory: (_controllerKey, methodKey) => methodKey,
  });
}

export function setupSwagger(app: INestApplication, document: OpenAPIObject): void {
  SwaggerModule.setup(DOCS_PATH, app, document, {
    jsonDocumentUrl: `${DOCS_PATH}-json`,
    customSiteTitle: 'Interventions BFF',
    swaggerOptions: {
      persistAuthorization: true,
      displayRequestDuration: true,
      tryItOutEnabled: false,
    },
  });
}
