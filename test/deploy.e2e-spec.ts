/**
 * Deployment artefacts: Kubernetes manifests (schema-validated with kubernetes-models),
 * docker-compose.yml (validated by `docker-compose config -q`), Dockerfile and nginx.conf.
 *
 * Needs the `docker-compose` binary (Debian: `apt-get install -y docker-compose`): when it is
 * missing the compose test FAILS (it is never skipped).
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import Ajv from 'ajv';
import request from 'supertest';
import * as YAML from 'yaml';
import { Deployment, StatefulSet } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { ConfigMap, Secret, Service } from 'kubernetes-models/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { loadAppConfig } from '../src/config/app.config';
import { CALLER_TOKEN, ROUTE, startBff, VALID_BODY } from './support/bff';
import { UpstreamStub } from './support/upstream-stub';

const ROOT = resolve(__dirname, '..');
const K8S_DIR = join(ROOT, 'deploy', 'k8s');
const BASE_DIR = join(K8S_DIR, 'base');
const APP = 'interventions-bff';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Obj = Record<string, any>;

interface Validatable {
  validate(): void;
}
const model = (m: unknown) => m as new (data: Obj) => Validatable;
const MODELS: Record<string, new (data: Obj) => Validatable> = {
  'apps/v1/Deployment': model(Deployment),
  'apps/v1/StatefulSet': model(StatefulSet),
  'v1/ConfigMap': model(ConfigMap),
  'v1/Secret': model(Secret),
  'v1/Service': model(Service),
  'policy/v1/PodDisruptionBudget': model(PodDisruptionBudget),
  'networking.k8s.io/v1/NetworkPolicy': model(NetworkPolicy),
  'autoscaling/v2/HorizontalPodAutoscaler': model(HorizontalPodAutoscaler),
};

/**
 * The fields of KEDA's ScaledObject CRD (keda.sh/v1alpha1, KEDA 2.x `keda.sh_scaledobjects.yaml`)
 * that overlays/keda uses, with their types. Stricter than the CRD: an unknown field is an error
 * here, where the API server would prune it silently (a typo would just not apply).
 */
const int32 = { type: 'integer', minimum: 0, maximum: 2147483647 };
const SCALED_OBJECT_SCHEMA = {
  type: 'object',
  required: ['apiVersion', 'kind', 'metadata', 'spec'],
  additionalProperties: false,
  properties: {
    apiVersion: { const: 'keda.sh/v1alpha1' },
    kind: { const: 'ScaledObject' },
    metadata: {
      type: 'object',
      required: ['name'],
      properties: {
        name: { type: 'string', pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$' },
        labels: { type: 'object', additionalProperties: { type: 'string' } },
      },
    },
    spec: {
      type: 'object',
      required: ['scaleTargetRef', 'triggers'],
      additionalProperties: false,
      properties: {
        scaleTargetRef: {
          type: 'object',
          required: ['name'],
          additionalProperties: false,
          properties: {
            apiVersion: { type: 'string' },
            kind: { type: 'string' },
            name: { type: 'string' },
            envSourceContainerName: { type: 'string' },
          },
        },
        minReplicaCount: int32,
        maxReplicaCount: int32,
        pollingInterval: int32,
        cooldownPeriod: int32,
        advanced: {
          type: 'object',
          additionalProperties: false,
          properties: {
            restoreToOriginalReplicaCount: { type: 'boolean' },
            horizontalPodAutoscalerConfig: {
              type: 'object',
              additionalProperties: false,
              // behavior: autoscaling/v2's HorizontalPodAutoscalerBehavior, checked with its model.
              properties: { name: { type: 'string' }, behavior: { type: 'object' } },
            },
          },
        },
        triggers: {
          type: 'array',
          minItems: 1,
          items: {
            type: 'object',
            required: ['type', 'metadata'],
            additionalProperties: false,
            properties: {
              type: { type: 'string' },
              name: { type: 'string' },
              metricType: { enum: ['AverageValue', 'Value', 'Utilization'] },
              useCachedMetrics: { type: 'boolean' },
              // map[string]string in the CRD: numbers and booleans must be quoted.
              metadata: { type: 'object', additionalProperties: { type: 'string' } },
              authenticationRef: {
                type: 'object',
                required: ['name'],
                properties: { name: { type: 'string' }, kind: { type: 'string' } },
              },
            },
          },
        },
      },
    },
  },
};

/** What a trigger of each type needs (KEDA's scaler docs): the field names the scaler reads. */
const TRIGGER_METADATA: Record<string, { required: string[]; optional: string[] }> = {
  prometheus: {
    required: ['serverAddress', 'query', 'threshold'],
    optional: ['activationThreshold', 'namespace', 'ignoreNullValues', 'unsafeSsl', 'timeout'],
  },
  cpu: { required: ['value'], optional: ['containerName'] },
};

function validateScaledObject(obj: Obj): void {
  const validate = new Ajv({ allErrors: true }).compile(SCALED_OBJECT_SCHEMA);
  // `as unknown`: Ajv's type guard would narrow obj itself to the schema's (empty) type.
  if (!validate(obj as unknown))
    throw new Error(`ScaledObject: ${JSON.stringify(validate.errors)}`);
  const behavior = obj.spec.advanced?.horizontalPodAutoscalerConfig?.behavior;
  if (behavior) {
    new MODELS['autoscaling/v2/HorizontalPodAutoscaler']({
      metadata: { name: 'behavior-check' },
      spec: { scaleTargetRef: obj.spec.scaleTargetRef, maxReplicas: 1, behavior },
    }).validate();
  }
  for (const trigger of obj.spec.triggers as Obj[]) {
    const known = TRIGGER_METADATA[trigger.type];
    if (!known) throw new Error(`no metadata rules for a ${trigger.type} trigger`);
    const fields = Object.keys(trigger.metadata);
    const missing = known.required.filter((f) => !fields.includes(f));
    const unknown = fields.filter((f) => ![...known.required, ...known.optional].includes(f));
    if (missing.length + unknown.length > 0)
      throw new Error(`${trigger.type} trigger: missing ${missing}, unknown ${unknown}`);
  }
}

function validate(obj: Obj, where: string): void {
  if (obj.apiVersion === 'keda.sh/v1alpha1') return validateScaledObject(obj);
  const Model = MODELS[`${obj.apiVersion}/${obj.kind}`];
  if (!Model) throw new Error(`${where}: no schema for ${obj.apiVersion} ${obj.kind}`);
  new Model(obj).validate();
}

function parseFile(path: string): Obj[] {
  const docs = YAML.parseAllDocuments(readFileSync(path, 'utf8'));
  for (const doc of docs) {
    if (doc.errors.length > 0) {
      throw new Error(`${path}: YAML error: ${doc.errors.map((e) => e.message).join('; ')}`);
    }
  }
  return docs.map((d) => d.toJSON() as Obj).filter((o) => o != null);
}

function loadManifests(): Map<string, Obj> {
  const files = readdirSync(BASE_DIR).filter(
    (f) => /\.ya?ml$/.test(f) && f !== 'kustomization.yaml',
  );
  const out = new Map<string, Obj>();
  for (const file of files) {
    const objects = parseFile(join(BASE_DIR, file));
    if (objects.length !== 1) {
      throw new Error(`${file}: expected exactly one object, found ${objects.length}`);
    }
    out.set(file, objects[0]);
  }
  return out;
}

/**
 * `kubectl kustomize <dir>` for the parts of kustomize these kustomizations use: `resources`
 * (files, and directories holding a kustomization.yaml) and `patches` of JSON-patch `remove`
 * operations on one target. Anything else throws, so a kustomization using more cannot pass
 * unread. (kubectl 1.32 / kustomize 5.5 renders the same objects; kubectl is not needed by npm test.)
 */
function kustomize(dir: string): Obj[] {
  const [kustomization] = parseFile(join(dir, 'kustomization.yaml'));
  const unsupported = Object.keys(kustomization).filter(
    (k) => !['apiVersion', 'kind', 'resources', 'patches'].includes(k),
  );
  if (unsupported.length > 0)
    throw new Error(`${dir}: kustomize fields not rendered here: ${unsupported}`);
  const objects: Obj[] = (kustomization.resources as string[]).flatMap((resource) => {
    const path = join(dir, resource);
    return statSync(path).isDirectory() ? kustomize(path) : parseFile(path);
  });
  for (const { target, patch } of (kustomization.patches ?? []) as Obj[]) {
    const matches = objects.filter(
      (o) =>
        o.kind === target.kind &&
        o.metadata.name === target.name &&
        o.apiVersion === [target.group, target.version].filter(Boolean).join('/'),
    );
    if (matches.length !== 1) throw new Error(`${dir}: patch target matches ${matches.length}`);
    for (const operation of YAML.parse(patch) as Obj[]) {
      if (operation.op !== 'remove')
        throw new Error(`${dir}: patch op ${operation.op} not rendered here`);
      const path = (operation.path as string).split('/').slice(1);
      const parent = path
        .slice(0, -1)
        .reduce((node: Obj | undefined, key) => node?.[key], matches[0]);
      const last = path[path.length - 1];
      if (parent === undefined || !(last in parent))
        throw new Error(`${dir}: nothing at ${operation.path}`);
      delete parent[last];
    }
  }
  return objects;
}

function read(rel: string): string {
  return readFileSync(join(ROOT, rel), 'utf8');
}

const podLabels = { 'app.kubernetes.io/name': APP, 'app.kubernetes.io/component': 'bff' };
const redisLabels = {
  'app.kubernetes.io/name': 'redis',
  'app.kubernetes.io/component': 'idempotency-store',
};

describe('deploy/k8s/base manifests', () => {
  const manifests = loadManifests();
  const byKind = (kind: string, name?: string): Obj => {
    const found = [...manifests.values()].filter(
      (o) => o.kind === kind && (name === undefined || o.metadata.name === name),
    );
    if (found.length !== 1)
      throw new Error(`expected exactly one ${kind} in deploy/k8s/base, found ${found.length}`);
    return found[0];
  };

  it('contains the expected files, one object each', () => {
    expect([...manifests.keys()].sort()).toEqual(
      [
        'configmap.yaml',
        'deployment.yaml',
        'networkpolicy.yaml',
        'pdb.yaml',
        'redis.yaml',
        'redis-networkpolicy.yaml',
        'redis-service.yaml',
        'secret.example.yaml',
        'service.yaml',
      ].sort(),
    );
  });

  it('kustomization.yaml lists every manifest but the example Secret', () => {
    const [kustomization] = parseFile(join(BASE_DIR, 'kustomization.yaml'));
    expect([...kustomization.resources].sort()).toEqual(
      [...manifests.keys()].filter((f) => f !== 'secret.example.yaml').sort(),
    );
  });

  it.each([...manifests.entries()])('%s is valid against the Kubernetes schema', (file, obj) => {
    expect(() => validate(obj, file)).not.toThrow();
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

  it('spreads the pods over zones, then nodes, each rollout revision on its own', () => {
    const pod = byKind('Deployment').spec.template;
    const spread: Obj[] = pod.spec.topologySpreadConstraints;
    expect(spread.map((c) => c.topologyKey)).toEqual([
      'topology.kubernetes.io/zone',
      'kubernetes.io/hostname',
    ]);
    for (const constraint of spread) {
      expect(constraint.maxSkew).toBe(1);
      expect(pod.metadata.labels).toMatchObject(constraint.labelSelector.matchLabels);
      expect(constraint.matchLabelKeys).toEqual(['pod-template-hash']);
    }
  });

  describe('NetworkPolicy', () => {
    const policy = byKind('NetworkPolicy', APP);
    const container = byKind('Deployment').spec.template.spec.containers[0];
    const containerPort = (name: string) =>
      container.ports.find((p: Obj) => p.name === name).containerPort;
    const portsOf = (rules: Obj[]) =>
      rules.flatMap((r: Obj) => r.ports.map((p: Obj) => `${p.protocol}/${p.port}`)).sort();

    it('selects the BFF pods and denies what it does not list, both ways', () => {
      expect(byKind('Deployment').spec.template.metadata.labels).toMatchObject(
        policy.spec.podSelector.matchLabels,
      );
      expect(policy.spec.policyTypes).toEqual(['Ingress', 'Egress']);
    });

    it('lets in only the ingress controller on the API port and Prometheus on the management port', () => {
      const rules: Obj[] = policy.spec.ingress;
      expect(rules).toHaveLength(2);
      const [api, management] = rules;
      expect(api.ports).toEqual([{ protocol: 'TCP', port: containerPort('http') }]);
      expect(api.from).toEqual([
        {
          namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'ingress-nginx' } },
          podSelector: { matchLabels: { 'app.kubernetes.io/name': 'ingress-nginx' } },
        },
      ]);
      expect(management.ports).toEqual([{ protocol: 'TCP', port: containerPort('management') }]);
      expect(management.from[0].podSelector.matchLabels).toEqual({
        'app.kubernetes.io/name': 'prometheus',
      });
      expect(management.from).toHaveLength(1);
    });

    it('lets out only DNS, the upstream and the OpenID provider (HTTPS), Redis and the OTLP collector', () => {
      const rules: Obj[] = policy.spec.egress;
      expect(portsOf(rules)).toEqual([
        'TCP/4318',
        'TCP/443',
        'TCP/443',
        'TCP/53',
        'TCP/6379',
        'UDP/53',
      ]);
      for (const rule of rules) expect(rule.to).toHaveLength(1);
      const to = (port: number) => rules.filter((r) => r.ports.some((p: Obj) => p.port === port));
      expect(to(53)[0].to[0].podSelector.matchLabels).toEqual({ 'k8s-app': 'kube-dns' });
      expect(to(443).map((r) => Object.keys(r.to[0]))).toEqual([['ipBlock'], ['ipBlock']]);
      expect(to(6379)[0].to[0].podSelector.matchLabels).toEqual(redisLabels);
      expect(byKind('StatefulSet').spec.template.metadata.labels).toMatchObject(redisLabels);
      const config = byKind('ConfigMap').data;
      expect(new URL(config.REDIS_URL).port).toBe('6379');
      expect(new URL(config.UPSTREAM_BASE_URL).protocol).toBe('https:');
      expect(new URL(config.OTEL_EXPORTER_OTLP_ENDPOINT).port).toBe('4318');
      expect(to(4318)[0].to[0].namespaceSelector.matchLabels).toEqual({
        'kubernetes.io/metadata.name': new URL(config.OTEL_EXPORTER_OTLP_ENDPOINT).hostname.split(
          '.',
        )[1],
      });
    });

    it('Redis takes connections from the BFF pods only, and calls nobody', () => {
      const redis = byKind('NetworkPolicy', 'redis');
      expect(redis.spec.podSelector.matchLabels).toEqual(redisLabels);
      expect(redis.spec.policyTypes).toEqual(['Ingress', 'Egress']);
      expect(redis.spec.ingress).toEqual([
        {
          from: [{ podSelector: { matchLabels: podLabels } }],
          ports: [{ protocol: 'TCP', port: 6379 }],
        },
      ]);
      expect(redis.spec.egress).toEqual([]);
    });
  });
});

describe.each(['keda', 'hpa'])('deploy/k8s/overlays/%s', (overlay) => {
  const objects = kustomize(join(K8S_DIR, 'overlays', overlay));
  const base = kustomize(BASE_DIR);
  const deployment = objects.find((o) => o.kind === 'Deployment')!;
  const autoscalers = objects.filter((o) => !base.some((b) => b.kind === o.kind));

  it('renders the base plus one autoscaler, every object valid', () => {
    expect(objects.map((o) => `${o.kind}/${o.metadata.name}`)).toEqual(
      expect.arrayContaining(base.map((o) => `${o.kind}/${o.metadata.name}`)),
    );
    expect(autoscalers.map((o) => o.kind)).toEqual([
      overlay === 'keda' ? 'ScaledObject' : 'HorizontalPodAutoscaler',
    ]);
    for (const obj of objects) expect(() => validate(obj, overlay)).not.toThrow();
  });

  it('hands the replica count to the autoscaler: 2 to 20, the PDB still letting one go', () => {
    expect(deployment.spec.replicas).toBeUndefined();
    const [scaler] = autoscalers;
    expect(scaler.spec.scaleTargetRef).toEqual({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      name: deployment.metadata.name,
    });
    const min = scaler.spec.minReplicaCount ?? scaler.spec.minReplicas;
    const max = scaler.spec.maxReplicaCount ?? scaler.spec.maxReplicas;
    expect([min, max]).toEqual([2, 20]);
    const pdb = objects.find((o) => o.kind === 'PodDisruptionBudget')!;
    expect(pdb.spec.minAvailable).toBeLessThan(min);
  });
});

describe('the KEDA ScaledObject', () => {
  const scaledObject = kustomize(join(K8S_DIR, 'overlays', 'keda')).find(
    (o) => o.kind === 'ScaledObject',
  )!;
  const trigger = (type: string) => scaledObject.spec.triggers.find((t: Obj) => t.type === type);

  it('scales on the request rate per replica, with CPU beside it', () => {
    expect(scaledObject.spec.triggers.map((t: Obj) => t.type)).toEqual(['prometheus', 'cpu']);
    expect(trigger('prometheus').metricType).toBe('AverageValue');
    expect(Number(trigger('prometheus').metadata.threshold)).toBeGreaterThan(0);
    expect(trigger('prometheus').metadata.ignoreNullValues).toBe('false');
    expect(trigger('cpu')).toEqual({
      type: 'cpu',
      metricType: 'Utilization',
      metadata: { value: '70' },
    });
  });

  it('queries a series the BFF really exports: its answers on the route', async () => {
    const query: string = trigger('prometheus').metadata.query;
    const selector = /^sum\(rate\((\w+)\{([^}]*)\}\[\w+\]\)\)$/.exec(query);
    expect(selector).not.toBeNull();
    const [, metric, matchers] = selector!;
    // Labels Prometheus' pod scrape config adds; the others must be the BFF's own.
    const scrapeLabels = ['namespace', 'app_kubernetes_io_name'];
    const ownLabels = [...matchers.matchAll(/(\w+)="([^"]*)"/g)].filter(
      ([, name]) => !scrapeLabels.includes(name),
    );
    expect(ownLabels.map(([, name, value]) => [name, value])).toEqual([['route', ROUTE]]);

    const upstream = await new UpstreamStub().start();
    const bff = await startBff({ UPSTREAM_BASE_URL: upstream.url });
    try {
      await request(bff.url)
        .post(ROUTE)
        .set('Authorization', `Bearer ${CALLER_TOKEN}`)
        .send(VALID_BODY)
        .expect(201);
      const exported = (await request(bff.url).get('/metrics')).text;
      const series = exported
        .split('\n')
        .filter((line) => line.startsWith(`${metric}{`))
        .filter((line) =>
          ownLabels.every(([, name, value]) => line.includes(`${name}="${value}"`)),
        );
      expect(series).toHaveLength(1);
      expect(series[0]).toMatch(/ 1$/);
    } finally {
      await bff.close();
      await upstream.stop();
    }
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
