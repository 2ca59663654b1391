// Issue 13, item 8: with MANAGEMENT_PORT, /health/* and /metrics are served there and only there.
import { CALLER_TOKEN, RunningBff, startBff } from './support/bff';
import { bearer, call } from './support/client';
import { UpstreamStub } from './support/upstream-stub';

let upstream: UpstreamStub;
let bff: RunningBff;
beforeAll(async () => {
  upstream = await new UpstreamStub().start();
  bff = await startBff({ UPSTREAM_BASE_URL: upstream.url, MANAGEMENT_PORT: '0' });
});
afterAll(async () => {
  await bff.close();
  await upstream.stop();
});

const get = (baseUrl: string, path: string) => call(baseUrl, { method: 'GET', path });

describe('MANAGEMENT_PORT', () => {
  it('serves the probes and the metrics on the management port', async () => {
    const management = bff.managementUrl as string;
    expect(management).not.toBe(bff.url);
    expect((await get(management, '/health/live')).status).toBe(200);
    const ready = await get(management, '/health/ready');
    expect(ready.status).toBe(200);
    expect(ready.body.status).toBe('ok');
    const metrics = await get(management, '/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.text).toMatch(/^http_request_duration_seconds_bucket/m);
  });

  it('serves neither on the public port: 404 problems there', async () => {
    for (const path of ['/health/live', '/health/ready', '/metrics']) {
      const answer = await get(bff.url, path);
      expect([path, answer.status]).toEqual([path, 404]);
      expect(answer.headers['content-type']).toMatch(/^application\/problem\+json/);
    }
  });

  it('serves the API and the docs on the public port only', async () => {
    const management = bff.managementUrl as string;
    expect((await call(bff.url, { headers: bearer(CALLER_TOKEN) })).status).toBe(201);
    expect((await call(management, { headers: bearer(CALLER_TOKEN) })).status).toBe(404);
    expect(upstream.requests).toHaveLength(1);
    expect((await get(bff.url, '/docs-json')).status).toBe(200);
    expect((await get(management, '/docs-json')).status).toBe(404);
  });
});
