// Issue 25: Swagger UI in session mode, as a frontend developer uses it in Debian's Chromium: log in
// at the development provider from the link on /docs, then "Try it out" on the create route.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { DevProvider } from '../scripts/dev-oidc-provider.mjs';
import { ROUTE } from './support/bff';
import { Browser, launchChromium } from './support/chromium';
import { DEMO_USER, SessionBff, startSessionBff } from './support/session-login';
import { UpstreamStub } from './support/upstream-stub';

const ARTIFACTS = join(__dirname, '..', 'test-artifacts');
const OPERATION = '#operations-Interventions-createPreventiveInterventionScheduled';

jest.setTimeout(120_000);

let upstream: UpstreamStub;
let site: SessionBff<DevProvider>;
let bffUrl: string;
let browser: Browser | undefined;

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  upstream = await new UpstreamStub().start();
  site = await startSessionBff(upstream.url);
  bffUrl = site.url;
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  await site?.close();
  await upstream?.stop();
});

it('logs in from the link on /docs, then Try it out creates with the session: 201', async () => {
  const page = (browser as Browser).page;
  await page.goto(`${bffUrl}/docs`);
  // Swagger UI opens the description's links in a new tab: the login happens there.
  const [login] = await Promise.all([
    page.context().waitForEvent('page'),
    page.locator('.information-container a', { hasText: 'log in' }).click(),
  ]);
  await login.waitForURL((url) => url.origin === site.provider.issuer);
  await login.locator('input[name="password"]').fill(DEMO_USER.password);
  await login.locator('button[type="submit"]').click();
  await login.waitForURL(`${bffUrl}/docs`);
  await login.close();
  // Cookies are not kept per port: the provider's own are there too.
  const cookies = (await page.context().cookies(bffUrl)).filter((c) =>
    c.name.startsWith('__Host-'),
  );
  expect(
    cookies.map(({ name, httpOnly, secure, sameSite }) => ({ name, httpOnly, secure, sameSite })),
  ).toEqual([{ name: '__Host-bff-session', httpOnly: true, secure: true, sameSite: 'Strict' }]);

  const operation = page.locator(OPERATION);
  await operation.locator('.opblock-summary').first().click();
  await operation.locator('button.try-out__btn').click();
  await operation.locator('textarea.body-param__text').waitFor();
  const [response] = await Promise.all([
    page.waitForResponse((r) => new URL(r.url()).pathname === ROUTE),
    operation.locator('button.execute').click(),
  ]);
  const sent = response.request().headers();
  expect(response.status()).toBe(201);
  expect(sent['x-csrf']).toBe('1');
  expect(sent.authorization).toBeUndefined();
  await operation
    .locator('.live-responses-table .response-col_status', { hasText: '201' })
    .first()
    .waitFor();
  expect(upstream.requests).toHaveLength(1);
  expect(upstream.requests[0].headers.authorization).toMatch(/^Bearer /);
  await page.screenshot({ path: join(ARTIFACTS, 'swagger-session-201.png'), fullPage: false });

  expect({ problems: browser?.problems, offsite: browser?.offsite }).toEqual({
    problems: [],
    offsite: [],
  });
});
