// Where the BFF allocates per request: V8's sampling heap profiler (through the inspector, objects
// already collected included) over the built BFF under autocannon, configured as the bench runs it.
// Prints the bytes per request by function (self), by package, by this project's functions (self),
// and by the innermost frame of this project's code on the stack (what it makes libraries allocate). No figure is asserted.
//   npm run build && node scripts/alloc-profile.mjs [--duration 10] [--connections 50] [--interval 1024] [--top 25]
import { DEFAULT_CALLERS, pinning, run } from './measure.mjs';
import {
  answerCreated,
  BENCH_BFF_ENV,
  connectInspector,
  parseOptions,
  ROUTE,
  startBff,
  startStub,
} from './load.mjs';

const options = parseOptions(process.argv.slice(2), {
  duration: 10,
  connections: 50,
  interval: 1024,
  top: 25,
});
const pins = pinning();
const stub = await startStub((_req, res) => answerCreated(res));
const bff = await startBff({
  upstreamUrl: stub.url,
  cpu: pins?.bff,
  nodeArgs: ['--inspect=127.0.0.1:0'],
  env: BENCH_BFF_ENV,
});
const inspector = await connectInspector(bff.output.inspectorUrl, 120_000);
let profile, result;
try {
  await run(bff.url + ROUTE, options.connections, 3, { callers: DEFAULT_CALLERS }); // warm-up
  await inspector.send('HeapProfiler.startSampling', {
    samplingInterval: options.interval,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true,
  });
  result = await run(bff.url + ROUTE, options.connections, options.duration);
  ({ profile } = await inspector.send('HeapProfiler.stopSampling'));
} finally {
  inspector.close();
  await bff.stop();
  await stub.stop();
}

const where = (url) => url.replace(/^file:\/\//, '').replace(/.*node_modules\//, '');
const ours = (url) => url.includes('/dist/') && !url.includes('node_modules');
const packageOf = (url) => {
  if (!url) return '(native)';
  const inModules = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (inModules) return inModules[1];
  if (url.startsWith('node:')) return `node:${url.slice(5).split('/')[0]}`;
  return ours(url) ? '(this project)' : url;
};
const frameName = ({ functionName, url, lineNumber }) =>
  `${functionName || '(anonymous)'} ${where(url)}:${lineNumber + 1}`;
const byFunction = new Map();
const byPackage = new Map();
const byOurFrame = new Map();
const byOurFunction = new Map();
const add = (map, key, bytes) => map.set(key, (map.get(key) ?? 0) + bytes);
let total = 0;
(function walk(node, ourFrame) {
  const frame = node.callFrame;
  const here = ours(frame.url) ? frameName(frame) : ourFrame;
  if (node.selfSize > 0) {
    total += node.selfSize;
    add(byFunction, frameName(frame), node.selfSize);
    add(byPackage, packageOf(frame.url), node.selfSize);
    add(byOurFrame, here ?? '(no frame of this project)', node.selfSize);
    if (ours(frame.url)) add(byOurFunction, frameName(frame), node.selfSize);
  }
  for (const child of node.children) walk(child, here);
})(profile.head, undefined);

const perRequest = (bytes) => `${(bytes / result.requests / 1024).toFixed(2).padStart(7)} KB`;
console.log(
  `${result.requests} requests in ${result.seconds.toFixed(1)} s at ${options.connections} connections; ` +
    `sampled every ${options.interval} bytes: ${perRequest(total).trim()} allocated per request`,
);
const show = (title, totals, count) => {
  console.log(`--- ${title}`);
  for (const [name, bytes] of [...totals].sort((a, b) => b[1] - a[1]).slice(0, count)) {
    console.log(`${perRequest(bytes)} ${((100 * bytes) / total).toFixed(1).padStart(5)}%  ${name}`);
  }
};
show('by function (self)', byFunction, options.top);
show('by package (self)', byPackage, 20);
show("this project's functions (self)", byOurFunction, options.top);
show("by this project's innermost frame on the stack", byOurFrame, options.top);
