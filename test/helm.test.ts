// The Helm chart (deploy/helm/pushflow), checked without a Kubernetes cluster: `helm lint
// --strict`, then `helm template` with the default values and with a Redis Cluster setup,
// and the rendered objects held to what the services really do: the probes hit routes and
// ports the services serve, every variable is one a service's config schema reads, and the
// environment plus the mounted secrets pass the services' own config loading.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TObject } from '@sinclair/typebox';
import { parseAllDocuments } from 'yaml';
import { common, deploymentEnv, loadConfig } from '@pushflow/shared';
import { parseApiKeys } from '../gateway/src/config.ts';
import { pendingVariables, SERVICE_SCHEMAS, unreadVariables } from './harness/config-schemas.ts';
import { findBinary } from '../local-stack/servers.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const chart = join(root, 'deploy/helm/pushflow');
const clusterValues = join(chart, 'ci/cluster-values.yaml');
const read = (file: string) => readFileSync(join(root, file), 'utf8');

const COMPONENTS = ['gateway', 'dispatcher', 'delivery'] as const;
type Component = (typeof COMPONENTS)[number];
const SCHEMAS: Record<Component, TObject> = SERVICE_SCHEMAS;
const PORT_VARIABLE: Record<Component, string> = { gateway: 'GATEWAY_PORT', dispatcher: 'DISPATCHER_PORT', delivery: 'DELIVERY_PORT' };
/** The routes each service serves, read from its source: a renamed route fails the probes' check. */
const ROUTES: Record<Component, string[]> = {
  gateway: [...read('gateway/src/routes/health.ts').matchAll(/app\.get\(\s*'([^']+)'/g)].map((m) => m[1]!),
  dispatcher: [...read('dispatcher/src/runtime/health.ts').matchAll(/req\.url === '([^']+)'/g)].map((m) => m[1]!),
  delivery: [...read('delivery/src/http-routes.ts').matchAll(/app\.get\(\s*'([^']+)'/g)].map((m) => m[1]!),
};
/** shared/src/runtime/shutdown.ts: how long a service may drain after SIGTERM before it exits anyway. */
const DRAIN_DEADLINE_SECONDS = Number(/deadlineMs = ([\d_]+)/.exec(read('shared/src/runtime/shutdown.ts'))?.[1]?.replace(/_/g, '')) / 1000;

const installHint =
  'run scripts/install-helm.sh (builds Helm with Go from the Go module proxy into ~/.cache/pushflow/bin), put helm on PATH, or set PUSHFLOW_HELM_BIN';

function findHelm(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const explicit = env.PUSHFLOW_HELM_BIN;
  if (explicit && existsSync(explicit)) return explicit;
  const onPath = findBinary('helm');
  if (onPath) return onPath;
  const cache = env.PUSHFLOW_CACHE_DIR ?? join(env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'pushflow');
  const cached = join(cache, 'bin', 'helm');
  return existsSync(cached) ? cached : undefined;
}

const helmBin = findHelm();
/** CI sets PUSHFLOW_REQUIRE_HELM=1: there a missing helm fails instead of skipping. */
const required = (process.env.PUSHFLOW_REQUIRE_HELM ?? '') !== '';
const skip = !helmBin && !required ? `helm not found (${installHint}); set PUSHFLOW_REQUIRE_HELM=1 to fail instead` : false;

function runHelm(args: string[]) {
  assert.ok(helmBin, `helm not found and PUSHFLOW_REQUIRE_HELM is set: ${installHint}`);
  return spawnSync(helmBin, args, { cwd: root, encoding: 'utf8', timeout: 60_000 });
}

function helm(args: string[]): string {
  const run = runHelm(args);
  assert.equal(run.status, 0, `helm ${args.join(' ')} failed (exit ${run.status}):\n${run.stdout}\n${run.stderr || run.error?.message}`);
  return run.stdout;
}

// ---- the rendered objects ------------------------------------------------------------------

type Dict = Record<string, any>;
const RELEASE = 'pf';
const NAMESPACE = 'pushflow';

function render(valuesFile?: string): Dict[] {
  const out = helm(['template', RELEASE, chart, '--namespace', NAMESPACE, ...(valuesFile ? ['-f', valuesFile] : [])]);
  return parseAllDocuments(out)
    .map((d) => d.toJS() as Dict | null)
    .filter((d): d is Dict => d !== null);
}

const ofKind = (objects: Dict[], kind: string) => objects.filter((o) => o.kind === kind);
const component = (o: Dict): string | undefined => o.metadata?.labels?.['app.kubernetes.io/component'];

function deploymentOf(objects: Dict[], name: Component): Dict {
  const found = ofKind(objects, 'Deployment').filter((d) => component(d) === name);
  assert.equal(found.length, 1, `one Deployment for ${name}, found ${found.length}`);
  return found[0]!;
}

const containerOf = (deployment: Dict): Dict => {
  const containers = deployment.spec.template.spec.containers as Dict[];
  assert.equal(containers.length, 1, `${deployment.metadata.name} runs one container`);
  return containers[0]!;
};

const matches = (selector: Dict, labels: Dict) => Object.entries(selector).every(([k, v]) => labels[k] === v);

/**
 * The environment a service would start with: literal values, the pod name for fieldRefs,
 * and each `<VAR>_FILE` pointed at a copy of the secret it names (the chart's own Secret
 * decoded, a Secret the values name given a stand-in value).
 */
function environmentOf(objects: Dict[], deployment: Dict, dir: string, standIns: Record<string, string>): NodeJS.ProcessEnv {
  const pod = deployment.spec.template.spec as Dict;
  const container = containerOf(deployment);
  const ownSecrets = new Map(ofKind(objects, 'Secret').map((s) => [s.metadata.name as string, s.data as Dict]));
  const files = new Map<string, string>(); // path inside the pod -> file here
  for (const mount of container.volumeMounts as Dict[]) {
    const volume = (pod.volumes as Dict[]).find((v) => v.name === mount.name);
    assert.ok(volume, `${deployment.metadata.name} mounts volume ${mount.name}, which its pod does not define`);
    for (const source of (volume.projected?.sources ?? []) as Dict[]) {
      for (const item of source.secret?.items ?? []) {
        const data = ownSecrets.get(source.secret.name);
        let value: string;
        if (data) {
          assert.ok(item.key in data, `${deployment.metadata.name}: Secret ${source.secret.name} has no key ${item.key}`);
          value = Buffer.from(String(data[item.key]), 'base64').toString('utf8');
        } else {
          const standIn = standIns[`${source.secret.name}/${item.key}`];
          assert.ok(
            standIn !== undefined,
            `${deployment.metadata.name} reads key ${item.key} of Secret ${source.secret.name}, which the values do not name`,
          );
          value = standIn;
        }
        const local = join(dir, `${deployment.metadata.name}-${item.path}`);
        writeFileSync(local, value);
        files.set(`${mount.mountPath}/${item.path}`, local);
      }
    }
  }
  const env: NodeJS.ProcessEnv = {};
  for (const e of container.env as Dict[]) {
    if (e.valueFrom) {
      assert.equal(e.valueFrom.fieldRef?.fieldPath, 'metadata.name', `${e.name}: only the pod name comes from a fieldRef`);
      env[e.name] = `${deployment.metadata.name}-5d8f7c9b6-x2x7q`;
    } else if (e.name.endsWith('_FILE')) {
      const local = files.get(e.value);
      assert.ok(local, `${deployment.metadata.name}: ${e.name}=${e.value} is no file a secret volume mounts`);
      env[e.name] = local;
    } else {
      env[e.name] = String(e.value);
    }
  }
  return env;
}

// ---- checks, for each rendering -------------------------------------------------------------

const REDIS_CLUSTER_URL = /^rediss?-cluster:\/\//;
/** Whether this checkout's config takes `redis-cluster://` URLs yet (the cluster change does). */
const clusterUrlsAccepted = new RegExp(common.REDIS_URL.pattern ?? '').test('redis-cluster://h:6379');

function checkRendering(
  t: { diagnostic: (m: string) => void },
  objects: Dict[],
  standIns: Record<string, string>,
  expect: { partitions: string },
) {
  for (const n of pendingVariables())
    t.diagnostic(`${n} is in no service's config schema on this branch yet (another issue-7 change adds it); not checked`);

  for (const o of objects) {
    const labels = o.metadata?.labels ?? {};
    for (const l of ['app.kubernetes.io/name', 'app.kubernetes.io/instance', 'app.kubernetes.io/managed-by', 'helm.sh/chart']) {
      assert.ok(labels[l], `${o.kind} ${o.metadata?.name} lacks label ${l}`);
    }
  }

  const dir = mkdtempSync(join(tmpdir(), 'pushflow-helm-'));
  try {
    for (const name of COMPONENTS) {
      const deployment = deploymentOf(objects, name);
      const pod = deployment.spec.template.spec as Dict;
      const podLabels = deployment.spec.template.metadata.labels as Dict;
      assert.ok(matches(deployment.spec.selector.matchLabels, podLabels), `${name}: the Deployment's selector does not select its pods`);
      const container = containerOf(deployment);
      const env = environmentOf(objects, deployment, dir, standIns);

      // Every variable is one this service reads: a renamed variable fails here.
      const schema = SCHEMAS[name];
      assert.deepEqual(
        unreadVariables(name, Object.keys(env)),
        [],
        `${name}: the chart sets variables ${name}'s config schema does not read`,
      );
      assert.equal(env.PUSHFLOW_PARTITIONS, expect.partitions, `${name}: PUSHFLOW_PARTITIONS`);
      assert.equal(deploymentEnv(env), 'production', `${name}: PUSHFLOW_ENV`);

      // The port it listens on is the container's port, the probes' and the Service's.
      const port = Number(env[PORT_VARIABLE[name]]);
      const ports = container.ports as Dict[];
      assert.deepEqual(
        ports.map((p) => p.containerPort),
        [port],
        `${name}: container ports vs ${PORT_VARIABLE[name]}=${port}`,
      );
      const resolvePort = (p: unknown) => (typeof p === 'number' ? p : ports.find((q) => q.name === p)?.containerPort);
      const probe = (kind: string, path: string) => {
        const p = container[kind] as Dict | undefined;
        assert.ok(p?.httpGet, `${name} has no HTTP ${kind}`);
        assert.equal(p.httpGet.path, path, `${name}: ${kind} path`);
        assert.ok(
          ROUTES[name].includes(path),
          `${name}: ${kind} hits ${path}, a route ${name} does not serve (it serves ${ROUTES[name].join(', ')})`,
        );
        assert.equal(resolvePort(p.httpGet.port), port, `${name}: ${kind} port`);
      };
      probe('readinessProbe', '/readyz');
      probe('livenessProbe', '/healthz');
      probe('startupProbe', '/healthz');

      const services = ofKind(objects, 'Service').filter((s) => matches(s.spec.selector, podLabels));
      assert.equal(services.length, 1, `${name}: one Service selects its pods`);
      assert.equal(resolvePort(services[0]!.spec.ports[0].targetPort), port, `${name}: the Service's targetPort`);

      const pdbs = ofKind(objects, 'PodDisruptionBudget').filter((p) => matches(p.spec.selector.matchLabels, podLabels));
      assert.equal(pdbs.length, 1, `${name}: one PodDisruptionBudget`);

      const hpas = ofKind(objects, 'HorizontalPodAutoscaler').filter((h) => h.spec.scaleTargetRef.name === deployment.metadata.name);
      if (name === 'dispatcher') {
        assert.equal(hpas.length, 0, 'the dispatcher scales by replicaCount, not CPU');
        assert.ok(deployment.spec.replicas >= 1, 'dispatcher replicas');
      } else {
        assert.equal(hpas.length, 1, `${name}: one HorizontalPodAutoscaler`);
        assert.equal(hpas[0]!.apiVersion, 'autoscaling/v2');
        assert.equal(hpas[0]!.spec.scaleTargetRef.kind, 'Deployment');
        assert.equal(deployment.spec.replicas, undefined, `${name}: replicas is the autoscaler's, so the Deployment must not set it`);
      }

      // Replicas spread over nodes (softly by default), counting this component's pods only.
      const spread = (pod.topologySpreadConstraints ?? []) as Dict[];
      assert.ok(
        spread.some((c) => matches(c.labelSelector?.matchLabels ?? { none: 'none' }, podLabels)),
        `${name}: no topology spread over its own pods`,
      );

      // Requests for scheduling, limits for neighbours.
      for (const k of ['cpu', 'memory']) {
        assert.ok(container.resources?.requests?.[k], `${name}: no ${k} request`);
        assert.ok(container.resources?.limits?.[k], `${name}: no ${k} limit`);
      }

      // Graceful shutdown: the preStop wait plus the service's own drain fit in the grace period.
      const preStop = Number(container.lifecycle?.preStop?.exec?.command?.[1] ?? 0);
      assert.ok(
        pod.terminationGracePeriodSeconds > preStop + DRAIN_DEADLINE_SECONDS,
        `${name}: terminationGracePeriodSeconds ${pod.terminationGracePeriodSeconds} <= preStop ${preStop} s + drain ${DRAIN_DEADLINE_SECONDS} s`,
      );

      // Not root, nothing writable but /tmp, no privilege to gain.
      assert.equal(pod.securityContext?.runAsNonRoot, true, `${name}: runAsNonRoot`);
      assert.ok(Number(pod.securityContext?.runAsUser) > 0, `${name}: a numeric non-root runAsUser (the image's USER is a name)`);
      assert.equal(container.securityContext?.readOnlyRootFilesystem, true, `${name}: read-only root filesystem`);
      assert.equal(container.securityContext?.allowPrivilegeEscalation, false, `${name}: allowPrivilegeEscalation`);
      const tmp = (container.volumeMounts as Dict[]).find((m) => m.mountPath === '/tmp');
      assert.ok(tmp && (pod.volumes as Dict[]).find((v) => v.name === tmp.name)?.emptyDir, `${name}: /tmp is an emptyDir`);
      assert.equal(pod.automountServiceAccountToken, false, `${name}: no Kubernetes API token in the pod`);

      // Secrets arrive as files only: no secret value in the pod spec.
      for (const secretName of ['PUSHFLOW_API_KEYS', 'PUSHFLOW_CONNECT_SECRET', 'REDIS_URL', 'MONGO_URL', 'PUSHFLOW_METRICS_TOKEN']) {
        assert.ok(
          !(container.env as Dict[]).some((e) => e.name === secretName),
          `${name}: ${secretName} is in the pod's environment; it goes in a file`,
        );
      }

      // And the service's own config loading accepts what it would start with.
      const loadable = { ...env };
      if (!clusterUrlsAccepted && REDIS_CLUSTER_URL.test(readFileSync(String(env.REDIS_URL_FILE), 'utf8'))) {
        t.diagnostic(
          `${name}: REDIS_URL is a redis-cluster:// URL, which this branch's config does not take yet (the cluster change does); loaded without it`,
        );
        delete loadable.REDIS_URL_FILE;
      }
      const warnings: string[] = [];
      const config = loadConfig(schema, loadable, { warn: (w) => warnings.push(w.variable) }) as Dict;
      if (name === 'gateway') assert.ok(parseApiKeys(config.PUSHFLOW_API_KEYS).length >= 1);
      assert.equal(config[PORT_VARIABLE[name]], port);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---- tests -------------------------------------------------------------------------------------

test('helm lint --strict passes with the default values and with the cluster values', { skip }, () => {
  helm(['lint', '--strict', chart]);
  helm(['lint', '--strict', chart, '-f', clusterValues]);
});

test('the default values render Deployments, Services, PDBs and HPAs the services can start with', { skip }, (t) => {
  const objects = render();
  const secret = ofKind(objects, 'Secret');
  assert.equal(secret.length, 1, 'the chart makes one Secret');
  const data = secret[0]!.data as Dict;
  // Generated once: the API key and the connect secret are long enough for the services.
  assert.ok(Buffer.from(data['api-keys'], 'base64').length >= 16, 'generated API key');
  assert.ok(Buffer.from(data['connect-secret'], 'base64').length >= 32, 'generated connect secret');
  checkRendering(t, objects, {}, { partitions: '1' });
  const dispatcher = containerOf(deploymentOf(objects, 'dispatcher'));
  assert.deepEqual((dispatcher.env as Dict[]).find((e) => e.name === 'PUSHFLOW_MONGO_WRITE_CONCERN')?.value, 'majority');
});

test('the cluster values render 8 partitions, redis-cluster seeds and the secrets the values name', { skip }, (t) => {
  const objects = render(clusterValues);
  const standIns = {
    'pushflow-app/PUSHFLOW_API_KEYS': `${'k'.repeat(24)},${'l'.repeat(24)}`,
    'pushflow-app/PUSHFLOW_CONNECT_SECRET': 'c'.repeat(48),
    'pushflow-app/PUSHFLOW_METRICS_TOKEN': 'm'.repeat(24),
    'pushflow-mongo/uri':
      'mongodb://pushflow:0123456789abcdef@mongo-0.mongo:27017,mongo-1.mongo:27017,mongo-2.mongo:27017/pushflow?replicaSet=rs0&authSource=admin',
  };
  checkRendering(t, objects, standIns, { partitions: '8' });
  // Only the Redis URL is left for the chart's own Secret.
  assert.deepEqual(
    ofKind(objects, 'Secret').map((s) => Object.keys(s.data)),
    [['redis-url']],
  );
  const redisUrl = Buffer.from(ofKind(objects, 'Secret')[0]!.data['redis-url'], 'base64').toString();
  assert.match(redisUrl, /^redis-cluster:\/\/[^,]+,[^,]+,[^,]+$/, 'three seed nodes');
  for (const name of COMPONENTS) {
    const container = containerOf(deploymentOf(objects, name));
    assert.match(container.image, /^registry\.example\.com\/acme\/pushflow-[a-z]+:1\.2\.3$/, `${name} image`);
  }
  const delivery = containerOf(deploymentOf(objects, 'delivery'));
  assert.equal((delivery.env as Dict[]).find((e) => e.name === 'PUSHFLOW_MAX_CONNECTIONS')?.value, '50000');
});

test('the chart refuses values the services would refuse', { skip }, () => {
  for (const [set, message] of [
    ['partitions=0', /partitions/],
    ['mongo.writeConcern=0', /mongo/],
    ['redis.url=http://redis:6379', /redis/],
    ['environment=staging', /environment/],
  ] as const) {
    const run = runHelm(['template', RELEASE, chart, '--set', set]);
    assert.notEqual(run.status, 0, `helm template --set ${set} rendered`);
    assert.match(run.stderr, message, `helm template --set ${set}: ${run.stderr}`);
  }
});
