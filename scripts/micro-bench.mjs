// Micro-benchmarks of per-request pieces too small for `npm run bench` to resolve, over the built
// dist/ (npm run build first). Prints µs per call; no figure is asserted.
//   node scripts/micro-bench.mjs
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const { Tracing } = require(join(ROOT, 'dist', 'observability', 'tracing.js'));
const { withoutToken } = require(join(ROOT, 'dist', 'upstream', 'upstream.client.js'));

/** @param {string} name @param {() => unknown} fn */
function measure(name, fn) {
  for (let i = 0; i < 50_000; i += 1) fn();
  const runs = 200_000;
  const start = process.hrtime.bigint();
  for (let i = 0; i < runs; i += 1) fn();
  const us = Number(process.hrtime.bigint() - start) / runs / 1000;
  console.log(`${name.padEnd(58)} ${us.toFixed(2)} µs`);
}

const tracing = new Tracing(
  {
    tracesUrl: undefined,
    protocol: 'http/json',
    sampler: 'parentbased_always_on',
    samplerRatio: 1,
    serviceName: 'micro',
    resourceAttributes: '',
  },
  require('pino')({ enabled: false }),
);
const call = {
  method: 'POST',
  server: new URL('http://127.0.0.1:4010'),
  path: '/interventions/v2/rs/preventive/routine',
  operation: 'createPreventiveInterventionScheduled',
};
const CALLER = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
/** @param {Record<string, string>} headers */
const propagate = (headers) => () =>
  tracing.startClient(tracing.start(/** @type {any} */ ({ headers })), call).traceparent;
measure('trace propagation, no traceparent', propagate({}));
measure('trace propagation, caller traceparent', propagate({ traceparent: CALLER }));
measure(
  'trace propagation, caller traceparent + tracestate',
  propagate({ traceparent: CALLER, tracestate: 'vendor=abc,x=1' }),
);

const created = JSON.stringify(
  JSON.parse(readFileSync(join(ROOT, 'test', 'support', 'created-intervention.json'), 'utf8')),
);
const withLongId = created.replace('"id":1,', '"id":12345678901234567890,');
measure('JSON.parse of the created answer (the JSON check)', () => JSON.parse(created));
measure('token strip, numbers round-trip (the usual case)', () =>
  withoutToken(created, JSON.parse(created)),
);
measure('token strip, a number beyond 2^53 (reviver path)', () =>
  withoutToken(withLongId, JSON.parse(withLongId)),
);
