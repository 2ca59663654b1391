/**
 * The committed OpenAPI document of the BFF is what the code generates (drift check), and it
 * documents what a frontend developer relies on.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse } from 'yaml';
import { generateOpenApiJson, OPENAPI_FILES } from '../src/swagger/generate';

const ROOT = resolve(__dirname, '..');
const COMMITTED = join(ROOT, 'openapi', 'openapi.json');
const UPSTREAM_CONTRACT = join(ROOT, 'openapi', 'vendor', 'upstream.openapi.yaml');
const ROUTE = '/interventions/v2/rs/preventive/routine';
const PROBLEM_JSON = 'application/problem+json';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Node = Record<string, any>;

let generated: string;
let doc: Node;

beforeAll(async () => {
  generated = await generateOpenApiJson();
  doc = JSON.parse(generated) as Node;
});

/** Follows `$ref` and single-element `allOf` wrappers to the schema they stand for. */
function deref(schema: Node | undefined): Node {
  let node = schema;
  for (let hops = 0; node && hops < 20; hops += 1) {
    if (typeof node.$ref === 'string') {
      const path = (node.$ref as string).replace(/^#\//, '').split('/');
      node = path.reduce<Node | undefined>((at, key) => at?.[key], doc);
    } else if (Array.isArray(node.allOf) && node.allOf.length === 1 && !node.properties) {
      node = node.allOf[0] as Node;
    } else {
      return node;
    }
  }
  throw new Error(`cannot resolve schema ${JSON.stringify(schema)}`);
}

function operation(): Node {
  const op = doc.paths?.[ROUTE]?.post as Node | undefined;
  if (!op) throw new Error(`POST ${ROUTE} is not in the generated document`);
  return op;
}

/** Every parameter object anywhere in the document (paths, operations, components). */
function allParameters(node: unknown, found: Node[] = []): Node[] {
  if (Array.isArray(node)) {
    for (const item of node) allParameters(item, found);
  } else if (node && typeof node === 'object') {
    const obj = node as Node;
    if (typeof obj.name === 'string' && typeof obj.in === 'string') found.push(obj);
    for (const value of Object.values(obj)) allParameters(value, found);
  }
  return found;
}

describe('openapi/openapi.json', () => {
  it('is what the code generates', () => {
    const committed = existsSync(COMMITTED) ? readFileSync(COMMITTED, 'utf8') : '';
    if (committed !== generated) {
      throw new Error('openapi/openapi.json is stale: run npm run openapi');
    }
  });
});

describe('openapi/openapi.session.json (AUTH_MODE=session)', () => {
  let session: string;
  beforeAll(async () => {
    session = await generateOpenApiJson('session');
  });

  it('is what the code generates', () => {
    const file = join(ROOT, OPENAPI_FILES.session);
    const committed = existsSync(file) ? readFileSync(file, 'utf8') : '';
    if (committed !== session) {
      throw new Error(`${OPENAPI_FILES.session} is stale: run npm run openapi`);
    }
  });

  it('documents the /bff endpoints and the cookie with X-CSRF on the route, no bearer token', () => {
    const document = JSON.parse(session) as Node;
    expect(Object.keys(document.paths as Node).filter((p) => p.startsWith('/bff/'))).toEqual(
      expect.arrayContaining(['/bff/login', '/bff/callback', '/bff/user', '/bff/logout']),
    );
    expect(document.components.securitySchemes).toEqual({
      session: expect.objectContaining({
        type: 'apiKey',
        in: 'cookie',
        name: '__Host-bff-session',
      }),
    });
    const route = document.paths[ROUTE].post as Node;
    expect(route.security).toEqual([{ session: [] }]);
    expect(route.responses['429'].description).toContain('never refuse a valid session');
    expect(route.responses['429'].description).not.toContain('bearer');
    // The committed document names no deployment: its server is relative, like openapi.json's.
    expect((document.servers as Node[]).map((server) => server.url)).toEqual(['/']);
    const headers = (route.parameters as Node[])
      .filter((p) => p.in === 'header')
      .map((p) => p.name);
    expect(headers).toContain('X-CSRF');
  });
});

describe('the generated OpenAPI document', () => {
  it('is OpenAPI 3 and documents POST /interventions/v2/rs/preventive/routine', () => {
    expect(doc.openapi).toMatch(/^3\./);
    const op = operation();
    expect(op.operationId).toBe('createPreventiveInterventionScheduled');
    expect(op.summary).toBe('Create preventive intervention scheduled');
    expect(op.tags).toContain('Interventions');
  });

  it('requires the bearer security scheme', () => {
    const op = operation();
    const schemes = doc.components?.securitySchemes as Node;
    const names = (op.security as Node[]).flatMap((requirement) => Object.keys(requirement));
    expect(names.length).toBeGreaterThan(0);
    for (const name of names) {
      expect(schemes[name]).toMatchObject({ type: 'http', scheme: 'bearer' });
    }
  });

  it('has no X-Session-Token parameter anywhere', () => {
    const parameters = allParameters(doc);
    const names = parameters.map((p) => String(p.name).toLowerCase());
    expect(names).not.toContain('x-session-token');
    // Besides its body, the route takes only the optional Idempotency-Key: never the session token.
    expect(
      (operation().parameters ?? []).map((p: { name: string; in: string; required?: boolean }) => [
        p.name,
        p.in,
        p.required,
      ]),
    ).toEqual([['Idempotency-Key', 'header', false]]);
  });

  it('documents the request body: four required fields, creationStatus as enum 0/1/2', () => {
    const body = operation().requestBody as Node;
    expect(body.required).toBe(true);
    const schema = deref(body.content?.['application/json']?.schema as Node);
    expect(Object.keys(schema.properties as Node).sort()).toEqual(
      ['creationStatus', 'routineId', 'scheduledEnd', 'scheduledStart'].sort(),
    );
    expect([...(schema.required as string[])].sort()).toEqual(
      ['creationStatus', 'routineId', 'scheduledEnd', 'scheduledStart'].sort(),
    );
    const creationStatus = deref(schema.properties.creationStatus as Node);
    expect(creationStatus.enum).toEqual([0, 1, 2]);
    const description = `${schema.properties.creationStatus.description ?? ''} ${
      creationStatus.description ?? ''
    }`;
    expect(description).toMatch(/0.*toScheduled/);
    expect(description).toMatch(/1.*scheduled/);
    expect(description).toMatch(/2.*done/);
    for (const field of ['scheduledStart', 'scheduledEnd']) {
      expect(deref(schema.properties[field] as Node)).toMatchObject({
        type: 'string',
        format: 'date-time',
      });
    }
    for (const field of Object.keys(schema.properties as Node)) {
      const property = schema.properties[field] as Node;
      expect(property.example ?? deref(property).example).toBeDefined();
    }
  });

  it('the 201 response schema reaches every data field of the upstream contract', () => {
    const upstream = parse(readFileSync(UPSTREAM_CONTRACT, 'utf8')) as Node;
    const example = upstream.paths[ROUTE].post.responses['201'].content['application/json']
      .example as Node;
    const expected = Object.keys(example.data as Node).sort();
    expect(expected).toHaveLength(31);

    const created = operation().responses['201'] as Node;
    const schema = deref(created.content?.['application/json']?.schema as Node);
    const data = deref(schema.properties?.data as Node);
    expect(Object.keys(data.properties as Node).sort()).toEqual(expected);
    expect(Object.keys(schema.properties as Node)).toContain('token');
  });

  it.each(['400', '401', '413', '415', '502', '503', '504'])(
    'documents %s as application/problem+json with an example',
    (status) => {
      const response = operation().responses[status] as Node | undefined;
      expect(response).toBeDefined();
      const content = response?.content?.[PROBLEM_JSON] as Node | undefined;
      expect(content).toBeDefined();
      const schema = deref(content?.schema as Node);
      expect(Object.keys(schema.properties as Node)).toEqual(
        expect.arrayContaining(['type', 'title', 'status', 'detail']),
      );
      const example = (content?.example ??
        Object.values((content?.examples as Node) ?? {})[0]?.value) as Node | undefined;
      expect(example).toBeDefined();
      expect(example?.status).toBe(Number(status));
      expect(example?.type).toEqual(expect.any(String));
    },
  );

  it('documents Retry-After on 503', () => {
    const headers = operation().responses['503'].headers as Node;
    expect(Object.keys(headers).map((h) => h.toLowerCase())).toContain('retry-after');
  });
});
