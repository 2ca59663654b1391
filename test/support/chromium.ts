import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BrowserContext, chromium, ConsoleMessage, Page } from 'playwright-core';

/** Debian's Chromium, driven by playwright-core (never a downloaded browser). */
const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

function isLoopback(url: URL): boolean {
  return ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname);
}

/** A one-line failure (no stack), naming what to install. */
function chromiumMissing(): Error {
  const error = new Error('chromium not found: apt-get install chromium');
  error.stack = error.message;
  return error;
}

export interface Browser {
  readonly context: BrowserContext;
  readonly page: Page;
  /** Every request to anything but loopback, which was aborted: a test expects none. */
  readonly offsite: string[];
  /** Page errors, CSP violations and console errors not `expected`: a test expects none. */
  readonly problems: string[];
  close(): Promise<void>;
}

/**
 * Chromium with a fresh profile and one page; nothing leaves this machine (offsite requests are
 * aborted), and what goes wrong in the page is collected. `expected` tells a console error the
 * test provokes (the browser logs every 4xx).
 */
export async function launchChromium(
  expected: (message: ConsoleMessage) => boolean = () => false,
): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw chromiumMissing();
  const userDataDir = mkdtempSync(join(tmpdir(), 'swagger-ui-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    // Exactly the flags known to work on these machines, plus what playwright needs to drive
    // the browser (its pipe) and the fresh profile.
    ignoreDefaultArgs: true,
    args: [
      ...CHROMIUM_FLAGS,
      `--user-data-dir=${userDataDir}`,
      '--remote-debugging-pipe',
      'about:blank',
    ],
    viewport: { width: 1280, height: 1000 },
    timeout: 60_000,
  });
  const offsite: string[] = [];
  await context.route(
    (url) => !isLoopback(url) && url.protocol !== 'data:',
    async (route) => {
      offsite.push(route.request().url());
      await route.abort();
    },
  );
  // A Content-Security-Policy that breaks Swagger UI shows up as violations and page errors.
  // (Browser code as text: this project compiles without the DOM library.)
  await context.addInitScript({
    content: `document.addEventListener('securitypolicyviolation', (event) => {
        console.error('CSP violation: ' + event.violatedDirective + ' blocked ' + event.blockedURI);
      });`,
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(15_000);
  const problems: string[] = [];
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error' && !expected(message)) {
      problems.push(`console error: ${message.text()}`);
    }
  });
  return {
    context,
    page,
    offsite,
    problems,
    close: async () => {
      await context.close();
      rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}
