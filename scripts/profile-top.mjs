// Self time of a V8 .cpuprofile, by function and by package: what to cut next.
//   BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" node scripts/bench.mjs --rounds 1
//   node scripts/profile-top.mjs /tmp/prof/CPU.*.cpuprofile [top N]
import { readFileSync } from 'node:fs';

const [file, top = '30'] = process.argv.slice(2);
if (!file) {
  console.error('usage: node scripts/profile-top.mjs <file.cpuprofile> [top N]');
  process.exit(2);
}
const profile = JSON.parse(readFileSync(file, 'utf8'));
const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
const selfTime = new Map();
profile.samples.forEach((id, i) =>
  selfTime.set(id, (selfTime.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)),
);
const total = [...selfTime.values()].reduce((a, b) => a + b, 0);

const where = (url) => url.replace(/^file:\/\//, '').replace(/.*node_modules\//, '');
const packageOf = ({ url, functionName }) => {
  if (!url) return `(native) ${functionName}`;
  const inModules = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (inModules) return inModules[1];
  if (url.startsWith('node:')) return `node:${url.slice(5).split('/')[0]}`;
  return url.includes('/dist/') ? '(this project)' : url;
};

const byFunction = new Map();
const byPackage = new Map();
for (const [id, time] of selfTime) {
  const frame = nodes.get(id).callFrame;
  const name = `${frame.functionName || '(anonymous)'} ${where(frame.url)}:${frame.lineNumber + 1}`;
  byFunction.set(name, (byFunction.get(name) ?? 0) + time);
  byPackage.set(packageOf(frame), (byPackage.get(packageOf(frame)) ?? 0) + time);
}
const show = (title, totals, count) => {
  console.log(`--- ${title}`);
  for (const [name, time] of [...totals].sort((a, b) => b[1] - a[1]).slice(0, count)) {
    console.log(
      `${(time / 1000).toFixed(0).padStart(7)} ms ${((100 * time) / total).toFixed(1).padStart(5)}%  ${name}`,
    );
  }
};
console.log(`total ${(total / 1000).toFixed(0)} ms sampled`);
show('by function (self time)', byFunction, Number(top));
show('by package (self time)', byPackage, 25);
