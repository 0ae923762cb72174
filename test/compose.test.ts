// Checks the container packaging by reading it: there may be no Docker engine where the tests
// run, so compose.yaml, the Dockerfile, .env.example and .dockerignore are parsed and held to
// the contract (docs/configuration.md, docs/operations.md), and a Compose client, when one is installed, validates the file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { checkProductionSecrets, ConfigError, DEV_ONLY_MARKER, urlCredentials } from '@pushflow/shared';
import { pendingVariables, unreadVariables } from './harness/config-schemas.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const read = (file: string) => readFileSync(join(root, file), 'utf8');

const BASE_IMAGE = 'node:24-trixie-slim';
const APP_SERVICES = ['gateway', 'dispatcher', 'delivery'] as const;
/** Secret-named variables; a <VAR>_FILE holds a path, and a token's audience or lifetime a setting, not the secret. */
const SECRET_NAME = /^(?!.*_FILE$)(?!.*_AUDIENCE$)(?!.*TOKEN[_-]TTL(_SECONDS)?$).*(SECRET|KEY|PASSWORD|TOKEN|AUTH$)/i;
const isSecretName = (name: string) => SECRET_NAME.test(name);
/** The listening port each service reads, and the value compose must give it. */
const PORT_VARIABLE = { gateway: 'GATEWAY_PORT', dispatcher: 'DISPATCHER_PORT', delivery: 'DELIVERY_PORT' } as const;
const PUBLISHED = { gateway: 3000, delivery: 8080 } as const;
const DESIGN_VARIABLES = [
  'REDIS_URL',
  'MONGO_URL',
  'PUSHFLOW_API_KEYS',
  'PUSHFLOW_CONNECT_SECRET',
  'GATEWAY_PORT',
  'DELIVERY_PORT',
  'PUSHFLOW_NODE_ID',
  'LOG_LEVEL',
];

type Dict = Record<string, unknown>;
const isDict = (v: unknown): v is Dict => typeof v === 'object' && v !== null && !Array.isArray(v);

// ---- compose.yaml -----------------------------------------------------------------------

const composeText = read('compose.yaml');
// merge: the scale profile's services are made of anchors with `<<:` (YAML 1.1 merge keys,
// which Compose reads).
const compose: unknown = parse(composeText, { merge: true });
assert.ok(isDict(compose), 'compose.yaml does not parse to a mapping');
const services: Dict = isDict(compose.services) ? compose.services : {};

function service(name: string): Dict {
  const s = services[name];
  assert.ok(isDict(s), `compose.yaml has no service "${name}"`);
  return s;
}

/** A service's environment as name -> value, from either the map or the list form. */
function environment(name: string): Record<string, string> {
  const env = service(name).environment;
  if (Array.isArray(env)) {
    return Object.fromEntries(
      env.map((line) => {
        const [k, ...v] = String(line).split('=');
        return [k, v.join('=')];
      }),
    );
  }
  return isDict(env) ? Object.fromEntries(Object.entries(env).map(([k, v]) => [k, String(v ?? '')])) : {};
}

/** Replaces ${VAR:-default} / ${VAR-default} by the default and other references by ''. */
function withDefaults(value: string): string {
  return value.replace(/\$\{[A-Za-z_][A-Za-z0-9_]*(?:(:?[-?+])([^}]*))?\}/g, (_m, op?: string, arg?: string) =>
    op?.endsWith('-') ? (arg ?? '') : '',
  );
}

function publishedPorts(name: string): { host: number; container: number }[] {
  const ports = service(name).ports;
  if (!Array.isArray(ports)) return [];
  return ports.map((p) => {
    if (isDict(p)) return { host: Number(p.published), container: Number(p.target) };
    const parts = withDefaults(String(p))
      .replace(/\/(tcp|udp)$/, '')
      .split(':');
    return { host: Number(parts.at(-2)), container: Number(parts.at(-1)) };
  });
}

function healthcheckCommand(name: string): string {
  const hc = service(name).healthcheck;
  assert.ok(isDict(hc), `service "${name}" has no healthcheck`);
  assert.notEqual(hc.disable, true, `service "${name}" disables its healthcheck`);
  const cmd = Array.isArray(hc.test) ? hc.test.map(String) : [String(hc.test ?? '')];
  assert.ok(cmd.length > 0 && cmd[0] !== 'NONE' && cmd.join(' ').trim() !== '', `service "${name}" has an empty healthcheck test`);
  return cmd.join(' ');
}

// ---- Dockerfile ---------------------------------------------------------------------------

type Instruction = { keyword: string; args: string };

/** Instructions with continuation lines joined and comments dropped. */
function dockerfileInstructions(text: string): Instruction[] {
  return text
    .replace(/\\\r?\n/g, ' ')
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const [keyword = '', ...rest] = line.split(/\s+/);
      return { keyword: keyword.toUpperCase(), args: rest.join(' ') };
    });
}

/** Stages in order, each with its FROM image, its name and its instructions. */
function dockerfileStages(instructions: Instruction[]) {
  const stages: { image: string; name?: string; body: Instruction[] }[] = [];
  for (const ins of instructions) {
    if (ins.keyword === 'FROM') {
      const words = ins.args.split(/\s+/).filter((w) => !w.startsWith('--'));
      const as = words.findIndex((w) => w.toUpperCase() === 'AS');
      stages.push({ image: words[0] ?? '', name: as >= 0 ? words[as + 1] : undefined, body: [] });
    } else {
      stages.at(-1)?.body.push(ins);
    }
  }
  return stages;
}

const dockerfileText = read('Dockerfile');
const instructions = dockerfileInstructions(dockerfileText);
const stages = dockerfileStages(instructions);

// ---- secrets --------------------------------------------------------------------------------

type Finding = { where: string; name: string; value: string };

/**
 * Values of secret-named variables, and passwords inside connection URLs, that are set to
 * something other than a dev-only default.
 */
function secretFindings(where: string, pairs: [string, string][]): Finding[] {
  return pairs
    .flatMap(([name, raw]): [string, string][] => {
      const value = withDefaults(raw)
        .trim()
        .replace(/^(['"])(.*)\1$/, '$2');
      if (isSecretName(name)) return [[name, value]];
      const password = urlCredentials(value)?.password;
      return password ? [[`password in ${name}`, password]] : [];
    })
    .map(([name, value]) => ({ where, name, value }))
    .filter((f) => f.value !== '' && !f.value.includes(DEV_ONLY_MARKER));
}

/** Every ${NAME:-default} in a text, as [NAME, whole reference], so defaults are scanned too. */
function interpolations(text: string): [string, string][] {
  return [...text.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)[^}]*\}/g)].map((m) => [m[1] ?? '', m[0]]);
}

/** Every key: scalar pair anywhere in a parsed YAML document, plus NAME=value list items. */
function yamlPairs(node: unknown, key = ''): [string, string][] {
  if (Array.isArray(node)) return node.flatMap((item) => yamlPairs(item, key));
  if (isDict(node)) return Object.entries(node).flatMap(([k, v]) => yamlPairs(v, k));
  if (node === null || node === undefined) return [];
  const value = String(node);
  const assignment = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/s.exec(value);
  return assignment
    ? [
        [key, value],
        [assignment[1] ?? '', assignment[2] ?? ''],
      ]
    : [[key, value]];
}

function dockerfilePairs(list: Instruction[]): [string, string][] {
  return list
    .filter((ins) => ins.keyword === 'ENV' || ins.keyword === 'ARG')
    .flatMap((ins): [string, string][] => {
      const legacy = /^([A-Za-z_][A-Za-z0-9_]*)\s+([^=].*)$/.exec(ins.args); // ENV NAME value
      if (legacy && !ins.args.split(/\s+/)[0]?.includes('=')) return [[legacy[1] ?? '', legacy[2] ?? '']];
      return [...ins.args.matchAll(/([A-Za-z_][A-Za-z0-9_]*)(?:=("[^"]*"|'[^']*'|\S*))?/g)].map((m): [string, string] => [
        m[1] ?? '',
        m[2] ?? '',
      ]);
    });
}

/** NAME=value lines of an env file, commented-out examples included. */
function envFilePairs(text: string): [string, string][] {
  return text.split(/\r?\n/).flatMap((line): [string, string][] => {
    const m = /^\s*#?\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    return m ? [[m[1] ?? '', m[2] ?? '']] : [];
  });
}

const envExample = read('.env.example');
/** The ${...} references of compose.yaml's values (its comments left out). */
const composeReferences = interpolations(
  yamlPairs(compose)
    .map(([, v]) => v)
    .join('\n'),
);

// ---- tests ------------------------------------------------------------------------------------

test('compose.yaml follows the Compose Specification and a Compose client accepts it', async (t) => {
  assert.ok(!('version' in (compose as Dict)), 'compose.yaml has a top-level "version:" key; the Compose Specification has none');

  const client = composeClient();
  if (!client) {
    t.skip('no docker-compose or docker compose client installed');
    return;
  }
  const profiles: string[][] = [[], ['--profile', 'scale']];
  for (const profile of profiles) {
    const args: string[] = [...client.slice(1), ...profile, '-f', 'compose.yaml', 'config', '-q'];
    const run: SpawnSyncReturns<string> = spawnSync(client[0], args, { cwd: root, encoding: 'utf8', timeout: 60_000 });
    assert.equal(
      run.status,
      0,
      `\`${client[0]} ${args.join(' ')}\` rejected the file (exit ${run.status}): ${run.stderr || run.error?.message}`,
    );
  }
});

test('compose.yaml defines redis, mongo, gateway, dispatcher and delivery, each with a healthcheck', () => {
  for (const name of ['redis', 'mongo', ...APP_SERVICES]) healthcheckCommand(name);
  assert.match(healthcheckCommand('redis'), /redis-cli\b.*\bping\b/, 'redis healthcheck does not run redis-cli ping');
  assert.match(healthcheckCommand('mongo'), /mongosh\b.*ping/, 'mongo healthcheck does not ping with mongosh');
});

test('redis runs with an append-only file', () => {
  const cmd = service('redis').command;
  const line = Array.isArray(cmd) ? cmd.join(' ') : String(cmd ?? '');
  assert.match(line, /--appendonly\s+yes\b/, `redis command "${line}" does not pass --appendonly yes`);
  assert.ok(Array.isArray(service('redis').volumes), 'redis has no volume: its AOF would die with the container');
  assert.ok(Array.isArray(service('mongo').volumes), 'mongo has no volume: its data would die with the container');
});

test('the services wait for healthy Redis (and the dispatcher for healthy MongoDB)', () => {
  const needs: Record<string, string[]> = { gateway: ['redis'], dispatcher: ['redis', 'mongo'], delivery: ['redis'] };
  for (const [name, deps] of Object.entries(needs)) {
    const dependsOn = service(name).depends_on;
    assert.ok(isDict(dependsOn), `service "${name}" has no depends_on map (the list form cannot wait for health)`);
    for (const dep of deps) {
      const entry: unknown = dependsOn[dep];
      assert.ok(isDict(entry), `service "${name}" does not depend on "${dep}"`);
      assert.equal(
        entry.condition,
        'service_healthy',
        `service "${name}" depends on "${dep}" with condition ${String(entry.condition)}, not service_healthy`,
      );
    }
  }
});

test('gateway, dispatcher and delivery are built from the one Dockerfile and probe their own /readyz', () => {
  for (const name of APP_SERVICES) {
    const build = service(name).build;
    assert.ok(isDict(build) && isDict(build.args), `service "${name}" has no build with args`);
    assert.equal(build.args.SERVICE, name, `service "${name}" builds with SERVICE=${String(build.args.SERVICE)}`);
    assert.ok(
      build.dockerfile === undefined || build.dockerfile === 'Dockerfile',
      `service "${name}" builds from ${String(build.dockerfile)}, not the shared Dockerfile`,
    );

    const port = environment(name)[PORT_VARIABLE[name]];
    assert.ok(
      port !== undefined && /^\d+$/.test(withDefaults(port)),
      `service "${name}" does not set ${PORT_VARIABLE[name]} to a port number in its environment`,
    );
    const probe = healthcheckCommand(name);
    assert.ok(
      probe.includes(`:${withDefaults(port)}/readyz`),
      `service "${name}" healthcheck "${probe}" does not hit /readyz on its port ${withDefaults(port)}`,
    );

    assert.equal(service(name).restart, 'unless-stopped', `service "${name}" restart is not unless-stopped`);
    assert.equal(
      service(name).init,
      true,
      `service "${name}" lacks init: true; the Dockerfile's exec-form CMD relies on it for signals and reaping`,
    );
  }
});

test('gateway and delivery publish their ports', () => {
  for (const [name, port] of Object.entries(PUBLISHED)) {
    const ports = publishedPorts(name);
    assert.ok(
      ports.some((p) => p.container === port && Number.isInteger(p.host) && p.host > 0),
      `service "${name}" does not publish container port ${port} (ports: ${JSON.stringify(ports)})`,
    );
    assert.equal(
      withDefaults(environment(name)[PORT_VARIABLE[name as keyof typeof PUBLISHED]] ?? ''),
      String(port),
      `service "${name}" publishes ${port} but listens on another port`,
    );
  }
});

test('the Dockerfile builds every stage from node:24-trixie-slim and runs as a non-root user', () => {
  assert.ok(stages.length >= 2, `the Dockerfile has ${stages.length} stage(s); expected a deps and a runtime stage`);
  const names = new Set<string>();
  for (const stage of stages) {
    assert.ok(
      stage.image === BASE_IMAGE || names.has(stage.image),
      `Dockerfile FROM ${stage.image}: every stage must be ${BASE_IMAGE} (Node 24 LTS on Debian 13; uWebSockets.js needs glibc)`,
    );
    if (stage.name) names.add(stage.name);
  }

  const runtime = stages.at(-1)!;
  const user = runtime.body
    .filter((i) => i.keyword === 'USER')
    .at(-1)
    ?.args.split(':')[0];
  assert.ok(user, 'the runtime stage of the Dockerfile has no USER: the service would run as root');
  assert.ok(!['root', '0'].includes(user), `the runtime stage of the Dockerfile runs as USER ${user}`);

  const cmd = runtime.body.filter((i) => i.keyword === 'CMD').at(-1)?.args;
  assert.ok(cmd?.startsWith('['), `the runtime CMD "${cmd}" is not in exec form, so node would not get SIGTERM as the main process`);
  assert.ok(
    runtime.body.some((i) => i.keyword === 'ENV' && /\bNODE_ENV=production\b/.test(i.args)),
    'the runtime stage does not set NODE_ENV=production',
  );
});

test('every file the Dockerfile copies from the context exists, for each service', () => {
  const copies = instructions
    .filter((i) => i.keyword === 'COPY' && !/--from=/.test(i.args))
    .map((i) =>
      i.args
        .split(/\s+/)
        .filter((w) => !w.startsWith('--'))
        .slice(0, -1),
    );
  assert.ok(copies.length > 0, 'the Dockerfile copies nothing from the build context');
  for (const name of APP_SERVICES) {
    for (const source of copies.flat()) {
      const path = source.replace(/\$\{?SERVICE\}?/g, name);
      assert.ok(existsSync(join(root, path)), `Dockerfile COPY ${source} (SERVICE=${name}): ${path} does not exist`);
    }
  }
});

test('no secret in compose.yaml, the Dockerfile or .env.example other than dev-only defaults', () => {
  const findings = [
    ...secretFindings('compose.yaml', [...yamlPairs(compose), ...composeReferences]),
    ...secretFindings('Dockerfile', [...dockerfilePairs(instructions), ...interpolations(dockerfileText)]),
    ...secretFindings('.env.example', envFilePairs(envExample)),
  ];
  assert.deepEqual(findings, [], `secret-looking values outside "dev-only" defaults: ${JSON.stringify(findings)}`);
});

test('the secret scan itself flags real values and lets dev-only ones through', () => {
  const doc = parse(
    'x-api-key: &k s3cr3t\nservices:\n  a:\n    environment:\n      API_KEY: *k\n      B_TOKEN: ${B_TOKEN:-dev-only-x}\n      C_SECRET: ${C_SECRET}\n' +
      '      C_SECRET_FILE: /run/secrets/c\n      R_URL: redis://:hunter2@r:6379\n      S_URL: redis://:${S_PASSWORD:-dev-only-s}@r\n      T_URL: redis://r:6379\n' +
      '    command: ["MY_PASSWORD=hunter2"]\n',
  );
  const flagged = secretFindings('t', [...yamlPairs(doc), ...interpolations('${D_SECRET:-plain}')]).map((f) => f.name);
  assert.deepEqual(
    flagged.sort(),
    ['API_KEY', 'D_SECRET', 'MY_PASSWORD', 'password in R_URL', 'x-api-key'],
    'the compose secret scan is broken',
  );
  const docker = secretFindings(
    't',
    dockerfilePairs(dockerfileInstructions('ENV A_TOKEN=abc OK=1\nARG PASSWORD\nENV LEGACY_KEY some value\n')),
  );
  assert.deepEqual(
    docker.map((f) => f.name),
    ['A_TOKEN', 'LEGACY_KEY'],
    'the Dockerfile secret scan is broken',
  );
  assert.deepEqual(
    secretFindings('t', envFilePairs('#API_KEYS="abc"\nSECRET=dev-only-1\n')).map((f) => f.name),
    ['API_KEYS'],
    'the env file secret scan is broken',
  );
});

test('.env.example documents every variable, with the development defaults marked', () => {
  const documented = new Set(envFilePairs(envExample).map(([name]) => name));
  const referenced = composeReferences.map(([name]) => name);
  for (const name of new Set([...DESIGN_VARIABLES, ...referenced])) {
    assert.ok(documented.has(name), `.env.example does not document ${name}`);
  }
  for (const [name, value] of envFilePairs(envExample).filter(([n]) => isSecretName(n))) {
    assert.ok(
      value === '' ||
        /DEVELOPMENT ONLY/i.test(
          envExample
            .split(`${name}=`)[0]
            ?.split(/\n\s*\n/)
            .at(-1) ?? '',
        ),
      `.env.example gives ${name} a value without marking it DEVELOPMENT ONLY in the comment above`,
    );
  }
});

test('.dockerignore keeps .env and node_modules out of the build context', () => {
  const rules = read('.dockerignore')
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  for (const [what, patterns] of [
    ['.env', ['.env', '/.env', '**/.env', '.env*']],
    ['node_modules', ['node_modules', '/node_modules', '**/node_modules']],
  ] as const) {
    const at = rules.findIndex((r) => (patterns as readonly string[]).includes(r));
    assert.ok(at >= 0, `.dockerignore does not exclude ${what}`);
    assert.ok(!rules.slice(at + 1).some((r) => r.startsWith('!') && r.includes(what)), `.dockerignore re-includes ${what} with a "!" rule`);
  }
});

// ---- authentication and production mode ---------------------------------------------------------

/**
 * compose.yaml as Compose resolves it on a machine without a .env: `<client> config` with an
 * empty env file and none of the file's variables in the environment, so every default is
 * what is checked. Without a Compose client, the file's own defaults are substituted.
 */
let resolvedMemo: { source: string; services: Dict } | undefined;
function resolved(): { source: string; services: Dict } {
  resolvedMemo ??= resolveCompose();
  return resolvedMemo;
}

function resolveCompose(): { source: string; services: Dict } {
  const client = composeClient();
  if (!client) return { source: 'compose.yaml with its defaults', services: substituteDefaults(services) as Dict };
  const dir = mkdtempSync(join(tmpdir(), 'pushflow-compose-'));
  try {
    writeFileSync(join(dir, 'empty.env'), '');
    const referenced = new Set(composeReferences.map(([name]) => name));
    const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !referenced.has(name)));
    // --profile scale: the scale profile's services too (the default ones have no profile).
    const run = spawnSync(
      client[0],
      [...client.slice(1), '--profile', 'scale', '--env-file', join(dir, 'empty.env'), '-f', 'compose.yaml', 'config'],
      {
        cwd: root,
        env,
        encoding: 'utf8',
        timeout: 60_000,
      },
    );
    assert.equal(run.status, 0, `\`${client.join(' ')} config\` failed (exit ${run.status}): ${run.stderr || run.error?.message}`);
    const doc: unknown = parse(run.stdout);
    assert.ok(isDict(doc) && isDict(doc.services), `\`${client.join(' ')} config\` printed no services`);
    return { source: `\`${client.join(' ')} config\``, services: doc.services };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function substituteDefaults(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(substituteDefaults);
  if (isDict(node)) return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, substituteDefaults(v)]));
  return typeof node === 'string' ? withDefaults(node) : node;
}

function resolvedEnv(name: string): Record<string, string> {
  const s = resolved().services[name];
  assert.ok(isDict(s), `${resolved().source} has no service "${name}"`);
  const env = s.environment;
  if (Array.isArray(env)) return Object.fromEntries(env.map((l) => String(l).split(/=(.*)/s).slice(0, 2) as [string, string]));
  return isDict(env) ? Object.fromEntries(Object.entries(env).map(([k, v]) => [k, String(v ?? '')])) : {};
}

function resolvedCommand(name: string): string {
  const cmd = (resolved().services[name] as Dict | undefined)?.command;
  return Array.isArray(cmd) ? cmd.map(String).join(' ') : String(cmd ?? '');
}

test('redis requires a password, kept off its command line, and its healthcheck authenticates', () => {
  const env = resolvedEnv('redis');
  const password = env.REDIS_PASSWORD ?? '';
  assert.ok(password !== '', `redis gets no REDIS_PASSWORD (${resolved().source})`);
  const command = resolvedCommand('redis');
  assert.match(
    command,
    /\brequirepass\s+\$\$?\{?REDIS_PASSWORD\b/,
    `redis command "${command}" does not set requirepass from $REDIS_PASSWORD`,
  );
  assert.ok(!command.includes(password), 'the redis password is on its command line, where ps shows it');
  assert.equal(env.REDISCLI_AUTH, password, 'the redis healthcheck (redis-cli) does not get the password in REDISCLI_AUTH');
  assert.doesNotMatch(healthcheckCommand('redis'), /\s-a\s|--pass\b/, 'the redis healthcheck passes the password on its command line');
});

test('mongo creates a root user and its healthcheck logs in', () => {
  const env = resolvedEnv('mongo');
  for (const name of ['MONGO_INITDB_ROOT_USERNAME', 'MONGO_INITDB_ROOT_PASSWORD']) {
    assert.ok((env[name] ?? '') !== '', `mongo does not get ${name} (${resolved().source}): it would run without authentication`);
  }
  assert.match(
    healthcheckCommand('mongo'),
    /\.auth\(process\.env\.MONGO_INITDB_ROOT_USERNAME, process\.env\.MONGO_INITDB_ROOT_PASSWORD\)/,
    'the mongo healthcheck does not log in with the root user (from its environment)',
  );
});

test('every REDIS_URL and MONGO_URL carries the credentials redis and mongo require', () => {
  const redisPassword = resolvedEnv('redis').REDIS_PASSWORD;
  const mongo = resolvedEnv('mongo');
  for (const name of APP_SERVICES) {
    const env = resolvedEnv(name);
    assert.ok(env.REDIS_URL, `service "${name}" has no REDIS_URL`);
    assert.equal(urlCredentials(env.REDIS_URL)?.password, redisPassword, `service "${name}": REDIS_URL does not carry redis's password`);
    if (name === 'dispatcher' || env.MONGO_URL) {
      const creds = urlCredentials(env.MONGO_URL ?? '');
      assert.deepEqual(
        creds,
        { username: mongo.MONGO_INITDB_ROOT_USERNAME, password: mongo.MONGO_INITDB_ROOT_PASSWORD },
        `service "${name}": MONGO_URL does not log in as mongo's root user`,
      );
      assert.match(
        env.MONGO_URL ?? '',
        /[?&]authSource=admin\b/,
        `service "${name}": MONGO_URL lacks authSource=admin (the root user lives there)`,
      );
    }
  }
});

test('compose runs the services with PUSHFLOW_ENV=development; the image defaults to production', () => {
  for (const name of APP_SERVICES) {
    assert.equal(resolvedEnv(name).PUSHFLOW_ENV, 'development', `service "${name}" PUSHFLOW_ENV (${resolved().source})`);
  }
  assert.match(
    environment('gateway').PUSHFLOW_ENV ?? '',
    /^\$\{PUSHFLOW_ENV:-development\}$/,
    'compose.yaml does not let PUSHFLOW_ENV be overridden from .env',
  );
  const runtime = stages.at(-1)!;
  const env = Object.fromEntries(dockerfilePairs(runtime.body.filter((i) => i.keyword === 'ENV')));
  assert.equal(env.PUSHFLOW_ENV, 'production', 'the runtime stage of the Dockerfile does not set PUSHFLOW_ENV=production');
});

test('every secret compose falls back to is dev-only, and production mode refuses each of them', () => {
  const secrets: [string, string, string][] = [];
  for (const name of [...APP_SERVICES, 'redis', 'mongo']) {
    for (const [variable, value] of Object.entries(resolvedEnv(name))) {
      // Empty is unset (an optional secret such as PUSHFLOW_METRICS_TOKEN): no default to leak.
      if (isSecretName(variable) && value !== '') secrets.push([name, variable, value]);
      const password = urlCredentials(value)?.password;
      if (password) secrets.push([name, `password in ${variable}`, password]);
    }
  }
  assert.ok(
    secrets.length >= 8,
    `found only ${secrets.length} secrets in ${resolved().source}: ${JSON.stringify(secrets.map(([s, v]) => `${s}.${v}`))}`,
  );
  for (const [service, variable, value] of secrets) {
    assert.ok(value.includes(DEV_ONLY_MARKER), `service "${service}": ${variable} defaults to a value without "${DEV_ONLY_MARKER}"`);
  }
  // The services' own rule (shared/src/config/production-secrets.ts) must refuse every one of them.
  for (const name of APP_SERVICES) {
    const env = resolvedEnv(name);
    for (const variable of ['PUSHFLOW_API_KEYS', 'PUSHFLOW_CONNECT_SECRET', 'REDIS_URL', 'MONGO_URL'].filter((v) => env[v] !== undefined)) {
      assert.throws(
        () => checkProductionSecrets({ [variable]: env[variable] }),
        (err: unknown) => err instanceof ConfigError && err.variable === variable,
        `service "${name}": PUSHFLOW_ENV=production would accept compose's default ${variable}`,
      );
    }
  }
});

/** docker-compose (v1) or the docker compose plugin (v2), whichever answers `version`. */
let probedClient: { client?: [string, ...string[]] } | undefined;
function composeClient(): [string, ...string[]] | undefined {
  probedClient ??= { client: probeComposeClient() };
  return probedClient.client;
}

/**
 * The first Compose client that answers `version`; undefined when none is installed. A client
 * that is there but too slow to answer fails the test instead of skipping it: under CI's load
 * docker-compose once took more than 15 s to start, and the check was skipped without a word.
 */
function probeComposeClient(): [string, ...string[]] | undefined {
  const clients: [string, ...string[]][] = [['docker-compose'], ['docker', 'compose']];
  for (const client of clients) {
    const probe = spawnSync(client[0], [...client.slice(1), 'version'], { stdio: 'ignore', timeout: 60_000 });
    if (probe.status === 0) return client;
    const code = (probe.error as NodeJS.ErrnoException | undefined)?.code;
    if (code !== undefined && code !== 'ENOENT') throw new Error(`\`${client.join(' ')} version\` did not answer: ${probe.error!.message}`);
  }
  return undefined;
}

test('delivery lets browser pages connect from localhost only, by default', () => {
  const origins = (resolvedEnv('delivery').PUSHFLOW_ALLOWED_ORIGINS ?? '').split(',').map((o) => o.trim());
  assert.ok(
    origins.length > 0 && origins.every((o) => /^https?:\/\/(localhost|127\.0\.0\.1)(:\*|:\d+)?$/.test(o)),
    `delivery PUSHFLOW_ALLOWED_ORIGINS is ${JSON.stringify(origins)} (${resolved().source}); the development default must name localhost only`,
  );
});

test('gateway and delivery agree on the connect token audience, lifetime and recipient id length', () => {
  for (const name of ['PUSHFLOW_TOKEN_AUDIENCE', 'PUSHFLOW_MAX_TOKEN_TTL_SECONDS', 'PUSHFLOW_MAX_RECIPIENT_ID_LENGTH']) {
    assert.equal(
      resolvedEnv('gateway')[name],
      resolvedEnv('delivery')[name],
      `${name}: delivery refuses the tokens a gateway with another value would mint, and would lock those clients out`,
    );
  }
  assert.equal(resolvedEnv('delivery').PUSHFLOW_MAX_TOKEN_TTL_SECONDS, '86400');
  assert.equal(resolvedEnv('delivery').PUSHFLOW_MAX_RECIPIENT_ID_LENGTH, '128');
});

// ---- the scale profile ----------------------------------------------------------------------------

const SCALE = {
  redisNodes: ['redis-1', 'redis-2', 'redis-3', 'redis-4', 'redis-5', 'redis-6'],
  gateway: ['gateway-1', 'gateway-2'],
  dispatcher: ['dispatcher-1', 'dispatcher-2'],
  delivery: ['delivery-1', 'delivery-2', 'delivery-3'],
} as const;
const SCALE_APPS = [...SCALE.gateway, ...SCALE.dispatcher, ...SCALE.delivery];
const kindOf = (name: string) => APP_SERVICES.find((k) => name.startsWith(`${k}-`))!;
const resolvedService = (name: string): Dict => {
  const s = resolved().services[name];
  assert.ok(isDict(s), `${resolved().source} has no service "${name}"`);
  return s;
};
const dependsOn = (name: string): Dict => {
  const d = resolvedService(name).depends_on;
  assert.ok(isDict(d), `service "${name}" has no depends_on map`);
  return d;
};

test("the default profile stays as it was: only the scale profile's services have a profile", () => {
  for (const name of ['redis', 'mongo', ...APP_SERVICES]) {
    assert.equal(service(name).profiles, undefined, `service "${name}" has a profile; \`make up\` would not start it`);
  }
  for (const name of [...SCALE.redisNodes, 'redis-cluster-init', ...SCALE_APPS, 'proxy']) {
    assert.deepEqual(service(name).profiles, ['scale'], `service "${name}" is not in the scale profile only`);
  }
});

test('scale: six Redis nodes in cluster mode announce their compose host names and require the password', () => {
  const password = resolvedEnv('redis').REDIS_PASSWORD;
  for (const name of SCALE.redisNodes) {
    const node = resolvedService(name);
    assert.equal(node.hostname, name, `${name}: hostname (the name it announces)`);
    assert.match(String(node.image), /^redis:7/, `${name}: Redis 7 (cluster-announce-hostname)`);
    const command = resolvedCommand(name).replace(/\$\$/g, '$');
    for (const flag of [
      /--cluster-enabled yes/,
      /--cluster-announce-hostname "?\$\{?HOSTNAME\b/,
      /--cluster-preferred-endpoint-type hostname/,
      /--appendonly yes/,
    ]) {
      assert.match(command, flag, `${name}: redis-server command "${command}"`);
    }
    // HOSTNAME is what Docker sets from `hostname:`, so each node announces its service name.
    assert.match(command, /\brequirepass \$\{?REDIS_PASSWORD\b/, `${name}: requirepass`);
    assert.match(command, /\bmasterauth \$\{?REDIS_PASSWORD\b/, `${name}: masterauth (replicas log in to their master)`);
    assert.ok(!command.includes(password ?? '\u0000'), `${name}: the password is on its command line`);
    assert.equal(resolvedEnv(name).REDIS_PASSWORD, password, `${name}: REDIS_PASSWORD`);
    assert.match(healthcheckCommand(name), /redis-cli\b.*\bping\b/, `${name}: healthcheck`);
    assert.ok(
      Array.isArray(resolvedService(name).volumes),
      `${name}: no volume; its nodes.conf (its place in the cluster) would die with it`,
    );
  }
});

test('scale: a one-shot service creates the cluster, three masters with a replica each, once every node is healthy', () => {
  const command = resolvedCommand('redis-cluster-init').replace(/\$\$/g, '$');
  assert.match(command, /redis-cli --cluster create .*--cluster-replicas 1 --cluster-yes/, `redis-cluster-init: "${command}"`);
  const listed = /for n in ([^;]+);/.exec(command)?.[1]?.trim().split(/\s+/);
  assert.deepEqual(listed, [...SCALE.redisNodes], 'redis-cluster-init joins every node');
  assert.match(command, /cluster_state:ok/, 'redis-cluster-init waits for cluster_state:ok (and skips a cluster already made)');
  assert.equal(resolvedEnv('redis-cluster-init').REDISCLI_AUTH, resolvedEnv('redis').REDIS_PASSWORD, 'redis-cluster-init logs in');
  const deps = dependsOn('redis-cluster-init');
  for (const node of SCALE.redisNodes)
    assert.equal((deps[node] as Dict | undefined)?.condition, 'service_healthy', `redis-cluster-init waits for ${node}`);
  assert.ok(
    ['no', undefined].includes(resolvedService('redis-cluster-init').restart as string | undefined),
    'a one-shot service must not restart',
  );
});

test('scale: two gateways, two dispatchers, three delivery nodes on the cluster with 8 partitions', (t) => {
  const redisPassword = resolvedEnv('redis').REDIS_PASSWORD;
  for (const p of pendingVariables())
    t.diagnostic(`${p} is in no service's config schema on this branch yet (another issue-7 change adds it); not checked`);
  const ids = { dispatcher: new Set<string>(), delivery: new Set<string>() };
  for (const name of SCALE_APPS) {
    const kind = kindOf(name);
    const s = resolvedService(name);
    assert.ok(isDict(s.build) && isDict(s.build.args) && s.build.args.SERVICE === kind, `${name} builds SERVICE=${kind}`);
    const env = resolvedEnv(name);
    assert.deepEqual(unreadVariables(kind, Object.keys(env)), [], `${name}: variables ${kind}'s config schema does not read`);
    assert.equal(env.PUSHFLOW_PARTITIONS, '8', `${name}: PUSHFLOW_PARTITIONS`);
    assert.match(
      env.REDIS_URL ?? '',
      /^redis-cluster:\/\/:[^@]+@redis-1:6379,redis-2:6379,redis-3:6379$/,
      `${name}: REDIS_URL names the cluster's seed nodes`,
    );
    assert.equal(urlCredentials(env.REDIS_URL ?? '')?.password, redisPassword, `${name}: REDIS_URL carries the nodes' password`);
    assert.throws(
      () => checkProductionSecrets({ REDIS_URL: env.REDIS_URL }),
      ConfigError,
      `${name}: production would accept the dev-only password`,
    );
    const port = env[PORT_VARIABLE[kind]];
    assert.ok(healthcheckCommand(name).includes(`:${port}/readyz`), `${name}: healthcheck on its /readyz`);
    assert.equal(
      (dependsOn(name)['redis-cluster-init'] as Dict | undefined)?.condition,
      'service_completed_successfully',
      `${name} waits for the cluster to be created`,
    );
    assert.equal(s.init, true, `${name}: init`);
    if (kind === 'dispatcher') {
      assert.equal((dependsOn(name).mongo as Dict | undefined)?.condition, 'service_healthy', `${name} waits for mongo`);
      assert.match(env.MONGO_URL ?? '', /@mongo:27017\/pushflow_scale\?authSource=admin$/, `${name}: MONGO_URL, a database of its own`);
      ids.dispatcher.add(env.PUSHFLOW_CONSUMER_ID ?? '');
    }
    if (kind === 'delivery') ids.delivery.add(env.PUSHFLOW_NODE_ID ?? '');
  }
  assert.deepEqual([...ids.dispatcher].sort(), [...SCALE.dispatcher], 'each dispatcher has its own stable consumer name');
  assert.deepEqual([...ids.delivery].sort(), [...SCALE.delivery], 'each delivery node has its own stable node id');
});

test('scale: nginx balances HTTP over the gateways and WebSockets over the delivery nodes', () => {
  const proxy = resolvedService('proxy');
  assert.match(String(proxy.image), /^nginx:/, 'the proxy is the official nginx image');
  const mounts = (proxy.volumes as unknown[]).map((v) => (isDict(v) ? `${v.source}:${v.target}` : String(v)));
  assert.ok(
    mounts.some((m) => /deploy\/compose\/nginx\.conf:\/etc\/nginx\/nginx\.conf/.test(m)),
    `proxy mounts deploy/compose/nginx.conf (${mounts})`,
  );
  const published = publishedPorts('proxy');
  const taken = [...publishedPorts('gateway'), ...publishedPorts('delivery')].map((p) => p.host);
  assert.ok(
    published.every((p) => !taken.includes(p.host)),
    "the proxy's ports clash with the default profile's",
  );
  for (const name of [...SCALE.gateway, ...SCALE.delivery]) {
    assert.equal((dependsOn('proxy')[name] as Dict | undefined)?.condition, 'service_healthy', `proxy waits for ${name}`);
  }

  const conf = read('deploy/compose/nginx.conf').replace(/#.*$/gm, '');
  const upstream = (name: string) => {
    const body = new RegExp(`upstream ${name} \\{([^}]*)\\}`).exec(conf)?.[1];
    assert.ok(body, `nginx.conf has no upstream ${name}`);
    return [...body.matchAll(/server ([\w.-]+):(\d+)/g)].map((m) => `${m[1]}:${m[2]}`);
  };
  assert.deepEqual(
    upstream('gateways'),
    SCALE.gateway.map((g) => `${g}:3000`),
  );
  assert.deepEqual(
    upstream('deliveries'),
    SCALE.delivery.map((d) => `${d}:8080`),
  );
  // Both serve HTTP on uWebSockets.js, which closes a connection idle for 10 s: nginx must close first.
  for (const name of ['gateways', 'deliveries']) {
    const timeout = new RegExp(`upstream ${name} \\{[^}]*keepalive_timeout (\\d+)s;`).exec(conf)?.[1];
    assert.ok(timeout !== undefined && Number(timeout) < 10, `upstream ${name} keeps idle connections past the server's 10 s`);
  }
  const server = (port: number) => {
    const at = conf.indexOf(`listen ${port};`);
    assert.ok(at >= 0, `nginx.conf does not listen on ${port}`);
    return conf.slice(at, conf.indexOf('\n  }\n', at));
  };
  const ws = server(8080);
  assert.match(ws, /proxy_pass http:\/\/deliveries;/);
  assert.match(ws, /proxy_set_header Upgrade \$http_upgrade;/, 'the Upgrade header is passed on');
  assert.match(ws, /proxy_set_header Connection \$connection_upgrade;/, 'the Connection header is passed on');
  assert.match(ws, /proxy_set_header Host \$http_host;/, 'the delivery node sees the Host the page came from');
  const readTimeout = /proxy_read_timeout (\d+)(s|m|h)?;/.exec(ws);
  const seconds = Number(readTimeout?.[1]) * ({ s: 1, m: 60, h: 3600 }[readTimeout?.[2] ?? 's'] ?? 1);
  assert.ok(seconds > 60, `WebSocket read timeout ${seconds} s: the proxy would cut sockets the node keeps (60 s idle)`);
  assert.match(server(3000), /proxy_pass http:\/\/gateways;/);
  assert.match(conf, /proxy_http_version 1\.1;/);
  // Published container ports are the ones nginx listens on.
  for (const p of published)
    assert.ok(conf.includes(`listen ${p.container};`), `proxy publishes ${p.container}, where nginx does not listen`);
});
