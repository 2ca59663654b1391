/**
 * Deployment artefacts: Kubernetes manifests (schema-validated with kubernetes-models),
 * docker-compose.yml (validated by `docker-compose config -q`), Dockerfile and nginx.conf.
 *
 * Needs the `docker-compose` binary (Debian: `apt-get install -y docker-compose`): when it is
 * missing the compose test FAILS (it is never skipped).
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as YAML from 'yaml';
import { Deployment, StatefulSet } from 'kubernetes-models/apps/v1';
import { ConfigMap, Secret, Service } from 'kubernetes-models/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { loadAppConfig } from '../src/config/app.config';

const ROOT = resolve(__dirname, '..');
const K8S_DIR = join(ROOT, 'deploy', 'k8s');
const APP = 'interventions-bff';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Obj = Record<string, any>;

interface Validatable {
  validate(): void;
}
const MODELS: Record<string, new (data: Obj) => Validatable> = {
  'apps/v1/Deployment': Deployment as unknown as new (data: Obj) => Validatable,
  'apps/v1/StatefulSet': StatefulSet as unknown as new (data: Obj) => Validatable,
  'v1/ConfigMap': ConfigMap as unknown as new (data: Obj) => Validatable,
  'v1/Secret': Secret as unknown as new (data: Obj) => Validatable,
  'v1/Service': Service as unknown as new (data: Obj) => Validatable,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget as unknown as new (data: Obj) => Validatable,
};

function loadManifests(): Map<string, Obj> {
  const files = readdirSync(K8S_DIR).filter((f) => /\.ya?ml$/.test(f));
  const out = new Map<string, Obj>();
  for (const file of files) {
    const docs = YAML.parseAllDocuments(readFileSync(join(K8S_DIR, file), 'utf8'));
    for (const doc of docs) {
      if (doc.errors.length > 0) {
        throw new Error(`${file}: YAML error: ${doc.errors.map((e) => e.message).join('; ')}`);
      }
    }
    const objects = docs.map((d) => d.toJSON() as Obj).filter((o) => o != null);
    if (objects.length !== 1) {
      throw new Error(`${file}: expected exactly one object, found ${objects.length}`);
    }
    out.set(file, objects[0]);
  }
  return out;
}

function read(rel: string): string {
  return readFileSync(join(ROOT, rel), 'utf8');
}

describe('deploy/k8s manifests', () => {
  const manifests = loadManifests();
  const byKind = (kind: string, name?: string): Obj => {
    const found = [...manifests.values()].filter(
      (o) => o.kind === kind && (name === undefined || o.metadata.name === name),
    );
    if (found.length !== 1)
      throw new Error(`expected exactly one ${kind} in deploy/k8s, found ${found.length}`);
    return found[0];
  };

  it('contains the expected files, one object each', () => {
    expect([...manifests.keys()].sort()).toEqual(
      [
        'configmap.yaml',
        'deployment.yaml',
        'pdb.yaml',
        'redis.yaml',
        'redis-service.yaml',
        'secret.example.yaml',
        'service.yaml',
      ].sort(),
    );
  });

  it.each([...manifests.entries()])('%s is valid against the Kubernetes schema', (file, obj) => {
    const Model = MODELS[`${obj.apiVersion}/${obj.kind}`];
    if (!Model)
      throw new Error(`${file}: no kubernetes-models class for ${obj.apiVersion} ${obj.kind}`);
    expect(() => new Model(obj).validate()).not.toThrow();
  });

  describe('Deployment', () => {
    const dep = byKind('Deployment');
    const pod = dep.spec.template.spec;
    const container = pod.containers.find((c: Obj) => c.name === APP) ?? pod.containers[0];

    it('is interventions-bff with 2 replicas and selector matching the pod labels', () => {
      expect(dep.apiVersion).toBe('apps/v1');
      expect(dep.metadata.name).toBe(APP);
      expect(dep.spec.replicas).toBe(2);
      expect(dep.spec.template.metadata.labels).toMatchObject(dep.spec.selector.matchLabels);
      expect(pod.terminationGracePeriodSeconds).toBe(30);
    });

    it('exposes container port 3000 and probes /health/live and /health/ready on the management port', () => {
      expect(container.ports).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ containerPort: 3000 }),
          expect.objectContaining({ name: 'management', containerPort: 9000 }),
        ]),
      );
      // MANAGEMENT_PORT: the probes are served there only.
      expect(byKind('ConfigMap').data.MANAGEMENT_PORT).toBe('9000');
      const portOk = (p: unknown) => p === 9000 || p === 'management';
      expect(container.livenessProbe.httpGet.path).toBe('/health/live');
      expect(portOk(container.livenessProbe.httpGet.port)).toBe(true);
      expect(container.readinessProbe.httpGet.path).toBe('/health/ready');
      expect(portOk(container.readinessProbe.httpGet.port)).toBe(true);
      if (container.startupProbe) {
        expect(container.startupProbe.httpGet.path).toBe('/health/live');
        expect(portOk(container.startupProbe.httpGet.port)).toBe(true);
      }
    });

    it('has Prometheus scrape /metrics on the management port', () => {
      expect(dep.spec.template.metadata.annotations).toEqual({
        'prometheus.io/scrape': 'true',
        'prometheus.io/port': '9000',
        'prometheus.io/path': '/metrics',
      });
    });

    it('trusts the ingress controller by address range, not by hop count, for the client address', () => {
      const trusted = loadAppConfig({
        UPSTREAM_BASE_URL: byKind('ConfigMap').data.UPSTREAM_BASE_URL,
        UPSTREAM_SESSION_TOKEN: 'unused',
        TRUST_PROXY: byKind('ConfigMap').data.TRUST_PROXY,
      });
      expect(trusted.trustProxy).toEqual([expect.stringMatching(/^[0-9.]+\/\d+$/)]);
      expect(trusted.warnings).toEqual([]);
    });

    it('sets resource requests and limits', () => {
      expect(container.resources).toEqual({
        requests: { cpu: '250m', memory: '256Mi' },
        limits: { cpu: '1', memory: '320Mi' },
      });
    });

    it('runs hardened: non-root uid 1000, read-only rootfs, no escalation, caps dropped, seccomp', () => {
      const sc = container.securityContext;
      const podSc = pod.securityContext ?? {};
      expect(sc.runAsNonRoot ?? podSc.runAsNonRoot).toBe(true);
      expect(sc.runAsUser ?? podSc.runAsUser).toBe(1000);
      expect(sc.readOnlyRootFilesystem).toBe(true);
      expect(sc.allowPrivilegeEscalation).toBe(false);
      expect(sc.capabilities.drop).toEqual(['ALL']);
      expect((sc.seccompProfile ?? podSc.seccompProfile)?.type).toBe('RuntimeDefault');
    });

    it('takes config from the ConfigMap and the token from the mounted Secret', () => {
      expect(container.envFrom).toEqual(
        expect.arrayContaining([{ configMapRef: { name: 'interventions-bff-config' } }]),
      );
      const env = Object.fromEntries((container.env ?? []).map((e: Obj) => [e.name, e.value]));
      expect(env.UPSTREAM_SESSION_TOKEN_FILE).toBe('/var/run/secrets/upstream/session-token');
      expect(env.UPSTREAM_SESSION_TOKEN).toBeUndefined();

      const mount = container.volumeMounts.find(
        (m: Obj) => m.mountPath === '/var/run/secrets/upstream',
      );
      expect(mount).toBeDefined();
      expect(mount.readOnly).toBe(true);
      const volume = pod.volumes.find((v: Obj) => v.name === mount.name);
      expect(volume.secret.secretName).toBe('interventions-bff-upstream-token');
      const items: Obj[] | undefined = volume.secret.items;
      if (items)
        expect(items).toEqual(
          expect.arrayContaining([expect.objectContaining({ path: 'session-token' })]),
        );
    });
  });

  it('ConfigMap holds the non-secret config (no token)', () => {
    const cm = byKind('ConfigMap');
    expect(cm.metadata.name).toBe('interventions-bff-config');
    expect(cm.data).toEqual(
      expect.objectContaining({
        REDIS_URL: expect.any(String),
        UPSTREAM_BASE_URL: expect.any(String),
      }),
    );
    expect(() => new URL(cm.data.UPSTREAM_BASE_URL)).not.toThrow();
    expect(Object.keys(cm.data)).not.toEqual(
      expect.arrayContaining([expect.stringMatching(/^UPSTREAM_SESSION_TOKEN$/)]),
    );
  });

  it('Service is ClusterIP 80 -> 3000 selecting the Deployment pods', () => {
    const svc = byKind('Service', APP);
    const dep = byKind('Deployment');
    expect(svc.spec.type ?? 'ClusterIP').toBe('ClusterIP');
    expect(svc.spec.ports).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ port: 80, targetPort: expect.anything() }),
      ]),
    );
    const p = svc.spec.ports.find((x: Obj) => x.port === 80);
    expect([3000, 'http']).toContain(p.targetPort);
    expect(dep.spec.template.metadata.labels).toMatchObject(svc.spec.selector);
  });

  it('Redis keeps the idempotency records: AOF fsynced every second on a volume, noeviction, at redis:6379', () => {
    const redis = byKind('StatefulSet');
    const container = redis.spec.template.spec.containers[0];
    const args: string[] = container.args;
    const option = (name: string) => args[args.indexOf(name) + 1];
    expect(option('--appendonly')).toBe('yes');
    expect(option('--appendfsync')).toBe('everysec');
    expect(option('--maxmemory-policy')).toBe('noeviction');
    const mount = container.volumeMounts.find((m: Obj) => m.mountPath === '/data');
    expect(redis.spec.volumeClaimTemplates.map((c: Obj) => c.metadata.name)).toEqual([mount.name]);

    const service = byKind('Service', 'redis');
    expect(redis.spec.template.metadata.labels).toMatchObject(service.spec.selector);
    expect(service.spec.ports[0].port).toBe(6379);
    expect(byKind('ConfigMap').data.REDIS_URL).toBe('redis://redis:6379');
  });

  it('PodDisruptionBudget keeps 1 pod available', () => {
    const pdb = byKind('PodDisruptionBudget');
    const dep = byKind('Deployment');
    expect(pdb.apiVersion).toBe('policy/v1');
    expect(pdb.spec.minAvailable).toBe(1);
    expect(dep.spec.template.metadata.labels).toMatchObject(pdb.spec.selector.matchLabels);
  });

  it('example Secret has the referenced name/key and only a placeholder value', () => {
    const s = byKind('Secret');
    expect(s.metadata.name).toBe('interventions-bff-upstream-token');
    const value: string = s.stringData?.['session-token'] ?? '';
    expect(value).toMatch(/REPLACE|CHANGE|PLACEHOLDER/i);
  });
});

describe('docker-compose.yml', () => {
  it('is valid according to `docker-compose config -q`', () => {
    const res = spawnSync(
      'docker-compose',
      ['-f', join(ROOT, 'docker-compose.yml'), 'config', '-q'],
      {
        cwd: ROOT,
        encoding: 'utf8',
        timeout: 60_000,
      },
    );
    if (res.error && (res.error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new Error('docker-compose binary not found: run `apt-get install -y docker-compose`');
    }
    if (res.error) throw res.error;
    if (res.status !== 0) {
      throw new Error(`docker-compose config -q exited ${res.status}: ${res.stderr || res.stdout}`);
    }
    expect(res.status).toBe(0);
  });

  it('defines upstream, redis, jaeger, bff1, bff2 and lb with the agreed settings', () => {
    // `merge: true` resolves the `<<: *bff` merge keys (YAML 1.1 feature, as docker-compose does).
    const compose = YAML.parse(read('docker-compose.yml'), { merge: true }) as Obj;
    expect(compose.version).toBeUndefined();
    expect(Object.keys(compose.services).sort()).toEqual([
      'bff1',
      'bff2',
      'jaeger',
      'lb',
      'redis',
      'upstream',
    ]);
    const { upstream, redis, lb } = compose.services;
    expect(upstream.image).toBe('stoplight/prism:5');
    expect(redis.image).toBe('redis:7-alpine');
    const option = (name: string) => redis.command[redis.command.indexOf(name) + 1];
    expect(option('--appendonly')).toBe('yes');
    expect(option('--appendfsync')).toBe('everysec');
    expect(option('--maxmemory-policy')).toBe('noeviction');
    expect(redis.volumes).toEqual(['redis-data:/data']);
    expect(Object.keys(compose.volumes)).toEqual(['redis-data']);
    expect(lb.image).toBe('nginx:1.27-alpine');
    expect(lb.ports).toContain('3000:80');
    expect(compose.secrets.upstream_session_token.file).toBe('./.secrets/upstream_session_token');
    for (const name of ['bff1', 'bff2']) {
      const bff = compose.services[name];
      expect(bff.read_only).toBe(true);
      expect(bff.environment).toMatchObject({
        UPSTREAM_BASE_URL: 'http://upstream:4010',
        REDIS_URL: 'redis://redis:6379',
        UPSTREAM_SESSION_TOKEN_FILE: '/run/secrets/upstream_session_token',
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://jaeger:4318',
      });
      expect(bff.secrets).toContain('upstream_session_token');
      expect(JSON.stringify(bff.healthcheck.test)).toContain('/health/live');
      // nginx in front: one trusted hop; the probes on the management port, which nginx does not proxy.
      expect(bff.environment).toMatchObject({ TRUST_PROXY: '1', MANAGEMENT_PORT: '9000' });
      expect(JSON.stringify(bff.healthcheck.test)).toContain('127.0.0.1:9000/health/live');
      expect(bff.ports).toBeUndefined();
    }
  });
});

describe('deploy/nginx/nginx.conf', () => {
  const conf = read('deploy/nginx/nginx.conf').replace(/#.*$/gm, '');

  it('balances over both replicas with keepalive and never retries on another replica', () => {
    expect(conf).toMatch(/server\s+bff1:3000/);
    expect(conf).toMatch(/server\s+bff2:3000/);
    expect(conf).toMatch(/keepalive\s+\d+;/);
    expect(conf).toMatch(/proxy_next_upstream\s+off;/);
    expect(conf).toMatch(/proxy_set_header\s+X-Request-Id\s+/);
  });

  it('waits longer than the 10 s upstream deadline', () => {
    const seconds = (directive: string): number => {
      const m = conf.match(new RegExp(`${directive}\\s+(\\d+)s;`));
      if (!m) throw new Error(`${directive} not set (in seconds)`);
      return Number(m[1]);
    };
    expect(seconds('proxy_read_timeout')).toBeGreaterThan(10);
    expect(seconds('proxy_send_timeout')).toBeGreaterThan(10);
  });
});

describe('Dockerfile', () => {
  const dockerfile = read('Dockerfile');
  // Join line continuations and drop comments so instructions can be matched line by line.
  const lines = dockerfile
    .replace(/\\\r?\n/g, ' ')
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const finalStage = lines.slice(lines.map((l) => /^FROM\s/i.test(l)).lastIndexOf(true));

  it('is multi-stage and builds on a Node 24 slim image', () => {
    expect(lines.filter((l) => /^FROM\s/i.test(l)).length).toBeGreaterThanOrEqual(2);
    expect(dockerfile).toMatch(/^ARG NODE_IMAGE=node:24[\w.-]*-slim(@sha256:[0-9a-f]{64})?$/m);
  });

  it('runs the final stage as a non-root USER', () => {
    const users = finalStage.filter((l) => /^USER\s/i.test(l));
    expect(users.length).toBeGreaterThan(0);
    const user = users[users.length - 1].split(/\s+/)[1].split(':')[0];
    expect(['root', '0']).not.toContain(user);
  });

  it('has a HEALTHCHECK on /health/live', () => {
    const hc = finalStage.find((l) => /^HEALTHCHECK\s/i.test(l));
    expect(hc).toBeDefined();
    expect(hc).toContain('/health/live');
    expect(hc).toContain('process.env.MANAGEMENT_PORT||process.env.PORT');
  });

  it('starts with CMD node dist/main.js and sets NODE_ENV=production', () => {
    const cmd = finalStage.filter((l) => /^CMD\s/i.test(l)).pop();
    expect(cmd).toBeDefined();
    const args: string[] = JSON.parse(cmd!.replace(/^CMD\s+/i, ''));
    expect(args).toEqual(['node', 'dist/main.js']);
    expect(finalStage.join('\n')).toMatch(/NODE_ENV=production/);
    expect(finalStage.join('\n')).toMatch(/^EXPOSE\s+3000\b/m);
  });

  it('sets the V8 heap flags of `npm start` as NODE_OPTIONS, and this node accepts them', () => {
    const start: string = JSON.parse(read('package.json')).scripts.start;
    const flags = /^node (--\S+(?: --\S+)*) dist\/main\.js$/.exec(start)?.[1];
    expect(flags).toMatch(/--max-semi-space-size=\d+/);
    expect(flags).toMatch(/--max-old-space-size=\d+/);
    expect(finalStage.join('\n')).toContain(`NODE_OPTIONS="${flags}"`);
    // NODE_OPTIONS takes only some V8 flags, and a V8 flag can go away with a Node major.
    const run = spawnSync(process.execPath, ['-e', ''], {
      env: { ...process.env, NODE_OPTIONS: flags },
      encoding: 'utf8',
    });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
  });
});
