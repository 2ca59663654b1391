import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ConsoleMessage, Page } from 'playwright-core';
import request from 'supertest';
import { ROUTE, startBff } from './support/bff';
import { Browser, launchChromium } from './support/chromium';
import { usePrismAndBff } from './support/prism';

/**
 * Swagger UI as a frontend developer uses it, in Debian's Chromium driven by playwright-core
 * (never a downloaded browser), against the BFF pointed at the mock upstream (Prism), the same
 * path `npm run demo` gives a new user.
 */
const ARTIFACTS = join(__dirname, '..', 'test-artifacts');
const TOKEN = 'swagger-ui-bearer-token';
const OPERATION = '#operations-Interventions-createPreventiveInterventionScheduled';
const pkg = JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')) as {
  version: string;
  description: string;
};

const VENDOR_EXAMPLE = {
  scheduledStart: '2024-12-01T12:34:56.000Z',
  scheduledEnd: '2024-12-05T14:56:23.000Z',
  creationStatus: 1,
  routineId: 1,
};

jest.setTimeout(120_000);

const running = usePrismAndBff();

describe('the document Swagger UI is built from', () => {
  interface Media {
    example?: unknown;
    examples?: unknown;
  }
  interface Document {
    info: { title: string; version: string; description: string };
    tags: { name: string }[];
    paths: Record<
      string,
      {
        post: {
          tags: string[];
          requestBody: { content: Record<string, Media> };
          responses: Record<string, { content?: Record<string, Media> }>;
        };
      }
    >;
  }

  let document: Document;
  beforeAll(async () => {
    document = (await request(running.bff.url).get('/docs-json').expect(200)).body as Document;
  });

  it('takes the title, version and description from package.json', () => {
    expect(document.info).toMatchObject({
      title: 'Interventions BFF',
      version: pkg.version,
      description: pkg.description,
    });
  });

  it('groups the route under the "Interventions" tag', () => {
    expect(document.tags.map((tag) => tag.name)).toContain('Interventions');
    expect(document.paths[ROUTE].post.tags).toEqual(['Interventions']);
  });

  it('prefills the request with the vendor example', () => {
    expect(document.paths[ROUTE].post.requestBody.content['application/json'].example).toEqual(
      VENDOR_EXAMPLE,
    );
  });

  it('has an example body on every response code', () => {
    const responses = Object.entries(document.paths[ROUTE].post.responses);
    const withoutExample = responses
      .filter(([, response]) =>
        Object.values(response.content ?? {}).every(
          (media) => media.example === undefined && media.examples === undefined,
        ),
      )
      .map(([status]) => status);

    expect(responses.length).toBeGreaterThanOrEqual(8);
    expect(withoutExample).toEqual([]);
  });

  it('keeps the authorization across reloads (persistAuthorization)', async () => {
    const init = await request(running.bff.url).get('/docs/swagger-ui-init.js').expect(200);
    expect(init.text).toMatch(/"persistAuthorization":\s*true/);
  });
});

// Issue 24, item 7: only the files the page needs; /docs, /docs/ and /docs/?x all work; the
// bearer scheme says what this BFF does with the token.
describe('what /docs serves', () => {
  it.each(['/docs', '/docs/', '/docs/?anything', '/docs?x=1', '/docs/index.html'])(
    '%s: the page, each of its scripts and styles found where it points',
    async (path) => {
      // fetch follows a redirect as the browser does (`/docs/?x` is sent to `/docs/`).
      const page = await fetch(running.bff.url + path);
      expect(page.status).toBe(200);
      expect(page.headers.get('content-type')).toMatch(/^text\/html/);
      const html = await page.text();
      const assets = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]);
      expect(assets).toHaveLength(6); // 2 icons, the stylesheet, 3 scripts
      for (const asset of assets) {
        const res = await fetch(new URL(asset, page.url));
        expect(res.status).toBe(200);
        expect((await res.arrayBuffer()).byteLength).toBeGreaterThan(0);
      }
    },
  );

  it.each([
    '/docs/package.json',
    '/docs/swagger-ui-bundle.js.map',
    '/docs/swagger-ui.css.map',
    '/docs/swagger-ui-es-bundle.js',
    '/docs/oauth2-redirect.html',
    '/docs/index.css',
    '/docs/README.md',
    '/docs/LICENSE',
  ])('%s: 404, not served', async (path) => {
    const res = await request(running.bff.url).get(path).expect(404);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  });

  it('the bearer scheme says the token is only checked for its form without JWT verification, verified with it', async () => {
    const scheme = async (bff: { url: string }) =>
      (await request(bff.url).get('/docs-json')).body.components.securitySchemes.bearer
        .description as string;
    expect(await scheme(running.bff)).toContain('it does not decode or verify it');
    const verifying = await startBff({
      UPSTREAM_BASE_URL: 'http://127.0.0.1:9',
      AUTH_JWKS_URL: 'https://127.0.0.1:9/jwks.json',
      AUTH_ISSUER: 'https://issuer.example',
      AUTH_AUDIENCE: 'interventions',
    });
    try {
      const text = await scheme(verifying);
      expect(text).not.toContain('does not decode or verify');
      expect(text).toContain('a JWT the BFF verifies before anything is sent upstream');
      expect(text).toContain('RS256, ES256, PS256, EdDSA');
    } finally {
      await verifying.close();
    }
  });
});

describe('Swagger UI in Chromium', () => {
  let browser: Browser | undefined;
  let page: Page;

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    // The browser logs the expected 400 of the invalid request; nothing else is allowed.
    browser = await launchChromium(
      (message: ConsoleMessage) =>
        message.location().url.endsWith(ROUTE) && message.text().includes('status of 400'),
    );
    page = browser.page;
  });

  afterAll(async () => {
    await browser?.close();
  });

  afterEach(() => {
    const seen = { problems: browser?.problems.splice(0), offsite: browser?.offsite.splice(0) };
    expect(seen).toEqual({ problems: [], offsite: [] });
  });

  const operation = () => page.locator(OPERATION);
  const liveResponse = () => operation().locator('.live-responses-table');

  /** Clicks Execute and returns the request the browser sent and the status it got. */
  async function execute(): Promise<{ authorization?: string; status: number }> {
    const [response] = await Promise.all([
      page.waitForResponse((r) => new URL(r.url()).pathname === ROUTE),
      operation().locator('button.execute').click(),
    ]);
    const status = response.status();
    await liveResponse()
      .locator('.response-col_status', { hasText: String(status) })
      .first()
      .waitFor();
    return { authorization: response.request().headers()['authorization'], status };
  }

  async function openTryItOut(): Promise<void> {
    if (!(await operation().locator('.opblock-body').isVisible())) {
      await operation().locator('.opblock-summary').first().click();
    }
    await operation().locator('button.try-out__btn').click();
    await operation().locator('textarea.body-param__text').waitFor();
  }

  it('authorizes with a bearer token, tries the prefilled example and shows the 201', async () => {
    await page.goto(`${running.bff.url}/docs`);
    await page.locator('.information-container .title', { hasText: 'Interventions BFF' }).waitFor();
    expect(await page.title()).toBe('Interventions BFF');

    await page.locator('.auth-wrapper button.authorize').click();
    const modal = page.locator('.modal-ux');
    await modal.locator('input').first().fill(TOKEN);
    await modal.locator('button.modal-btn.authorize').click();
    await modal.locator('button.btn-done').click();
    await modal.waitFor({ state: 'detached' });

    const tag = page.locator('#operations-tag-Interventions');
    expect(await tag.textContent()).toContain('Interventions');
    await openTryItOut();
    const prefilled = await operation().locator('textarea.body-param__text').inputValue();
    expect(JSON.parse(prefilled)).toEqual(VENDOR_EXAMPLE);

    const sent = await execute();
    expect(sent).toEqual({ authorization: `Bearer ${TOKEN}`, status: 201 });
    const body = await liveResponse().locator('.response-col_description pre').first().innerText();
    expect(body).toContain('"codePin": 123456');
    expect(body).toContain('"providerName": "Provider name"');

    await liveResponse().scrollIntoViewIfNeeded();
    await page.screenshot({ path: join(ARTIFACTS, 'swagger-201.png') });
  });

  it('shows the 400 problem with the field error for an end before the start', async () => {
    const invalid = { ...VENDOR_EXAMPLE, scheduledEnd: '2024-11-30T08:00:00.000Z' };
    await operation()
      .locator('textarea.body-param__text')
      .fill(JSON.stringify(invalid, null, 2));

    const sent = await execute();
    expect(sent.status).toBe(400);
    const body = await liveResponse().locator('.response-col_description pre').first().innerText();
    expect(body).toContain('"status": 400');
    expect(body).toContain('"field": "scheduledEnd"');
    expect(body).toContain('scheduledEnd must be later than scheduledStart');

    await liveResponse().scrollIntoViewIfNeeded();
    await page.screenshot({ path: join(ARTIFACTS, 'swagger-400.png') });
  });

  it('keeps the authorization after a reload and sends it with the next call', async () => {
    await page.reload();
    await page.locator('.auth-wrapper button.authorize.locked').waitFor();

    await openTryItOut();
    const sent = await execute();
    expect(sent).toEqual({ authorization: `Bearer ${TOKEN}`, status: 201 });
  });

  it.each(['/docs/', '/docs/?anything'])('%s renders the same page', async (path) => {
    await page.goto(`${running.bff.url}${path}`);
    await page.locator('.information-container .title', { hasText: 'Interventions BFF' }).waitFor();
    await operation().waitFor();
  });
});
