import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Type, type TObject } from '@sinclair/typebox';
import { ConfigError, common, loadConfig } from '../src/config/config.ts';
import type { ConfigWarning } from '../src/config/production-secrets.ts';
import { parseClusterUrl } from '../src/streams/redis.ts';
import { urlCredentials, withoutCredentials } from '../src/config/url-credentials.ts';

const schema = Type.Object({
  REDIS_URL: common.REDIS_URL,
  PUSHFLOW_CONNECT_SECRET: common.PUSHFLOW_CONNECT_SECRET,
  GATEWAY_PORT: common.port(3000),
  LOG_LEVEL: common.LOG_LEVEL,
  OPTIONAL_THING: Type.Optional(Type.String()),
});
const secret = 'x'.repeat(32);

test('defaults fill what is not set and numbers are converted', () => {
  assert.deepEqual(loadConfig(schema, { PUSHFLOW_CONNECT_SECRET: secret, GATEWAY_PORT: '4000' }), {
    REDIS_URL: 'redis://127.0.0.1:6379',
    PUSHFLOW_CONNECT_SECRET: secret,
    GATEWAY_PORT: 4000,
    LOG_LEVEL: 'info',
  });
});

test('a missing required variable, or a bad value, names the variable', () => {
  const cases: [NodeJS.ProcessEnv, string][] = [
    [{}, 'PUSHFLOW_CONNECT_SECRET'],
    [{ PUSHFLOW_CONNECT_SECRET: 'short' }, 'PUSHFLOW_CONNECT_SECRET'],
    [{ PUSHFLOW_CONNECT_SECRET: secret, GATEWAY_PORT: 'http' }, 'GATEWAY_PORT'],
    [{ PUSHFLOW_CONNECT_SECRET: secret, GATEWAY_PORT: '70000' }, 'GATEWAY_PORT'],
    [{ PUSHFLOW_CONNECT_SECRET: secret, GATEWAY_PORT: '3000.5' }, 'GATEWAY_PORT'],
    [{ PUSHFLOW_CONNECT_SECRET: secret, GATEWAY_PORT: '1e3' }, 'GATEWAY_PORT'],
    [{ PUSHFLOW_CONNECT_SECRET: secret, REDIS_URL: 'localhost:6379' }, 'REDIS_URL'],
    [{ PUSHFLOW_CONNECT_SECRET: secret, REDIS_URL: 'redis-cluster://' }, 'REDIS_URL'],
    [{ PUSHFLOW_CONNECT_SECRET: secret, REDIS_URL: 'redis-cluster://a:7000,b' }, 'REDIS_URL'],
    [{ PUSHFLOW_CONNECT_SECRET: secret, REDIS_URL: 'redis-cluster://a:7000/0' }, 'REDIS_URL'],
    [{ PUSHFLOW_CONNECT_SECRET: secret, REDIS_URL: 'redis-cluster:/a:7000' }, 'REDIS_URL'],
    [{ PUSHFLOW_CONNECT_SECRET: secret, LOG_LEVEL: 'loud' }, 'LOG_LEVEL'],
  ];
  for (const [env, variable] of cases) {
    assert.throws(
      () => loadConfig(schema, env),
      (err: unknown) => err instanceof ConfigError && err.variable === variable && err.message.startsWith(variable),
    );
  }
});

test('REDIS_URL names one Redis or the seed nodes of a Redis Cluster', () => {
  for (const url of [
    'redis://127.0.0.1:6379',
    'rediss://:pw@cache:6380',
    'redis-cluster://10.0.0.1:7000',
    'redis-cluster://a:7000,b:7001,c.example:7002',
    'rediss-cluster://user:p%40ss@a:7000,b:7000/',
  ])
    assert.equal(loadConfig(schema, { PUSHFLOW_CONNECT_SECRET: secret, REDIS_URL: url }).REDIS_URL, url);
  assert.deepEqual(parseClusterUrl('rediss-cluster://user:p%40ss@a:7000,b.example:7001'), {
    tls: true,
    seeds: [
      { host: 'a', port: 7000 },
      { host: 'b.example', port: 7001 },
    ],
    username: 'user',
    password: 'p@ss',
  });
  assert.deepEqual(parseClusterUrl('redis-cluster://a:7000'), { tls: false, seeds: [{ host: 'a', port: 7000 }] });
  assert.equal(parseClusterUrl('redis://a:7000'), undefined);
  // A cluster password is a password like any other: refused in production when it is a development one.
  assert.throws(
    () =>
      loadConfig(schema, { PUSHFLOW_ENV: 'production', PUSHFLOW_CONNECT_SECRET: secret, REDIS_URL: 'redis-cluster://:dev-only-x@a:7000' }),
    (err: unknown) => err instanceof ConfigError && err.variable === 'REDIS_URL' && !err.message.includes('dev-only-x'),
  );
});

test('a secret is never echoed back in the error', () => {
  assert.throws(
    () => loadConfig(schema, { PUSHFLOW_CONNECT_SECRET: 'hunter2' }),
    (err: Error) => !err.message.includes('hunter2'),
  );
});

test('loadConfigOrExit stops the process with a message naming the variable', () => {
  const code = `import { loadConfigOrExit, common } from './shared/src/config/config.ts'; import { Type } from '@sinclair/typebox';
    loadConfigOrExit('demo', Type.Object({ PUSHFLOW_CONNECT_SECRET: common.PUSHFLOW_CONNECT_SECRET }));`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], {
    env: { ...process.env, PUSHFLOW_CONNECT_SECRET: '' },
    encoding: 'utf8',
  });
  assert.equal(r.status, 78, r.stderr);
  assert.match(r.stderr, /demo: invalid configuration: PUSHFLOW_CONNECT_SECRET/);
});

// ---- <VAR>_FILE ---------------------------------------------------------------------------

function secretFile(content: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'pushflow-config-'));
  const path = join(dir, 'value');
  writeFileSync(path, content, { mode: 0o600 });
  return path;
}

test('<VAR>_FILE reads the value from a file, dropping one trailing newline', () => {
  const file = secretFile(`${secret}\n`);
  const config = loadConfig(schema, { PUSHFLOW_CONNECT_SECRET_FILE: file, GATEWAY_PORT_FILE: secretFile('4000\r\n') });
  assert.equal(config.PUSHFLOW_CONNECT_SECRET, secret);
  assert.equal(config.GATEWAY_PORT, 4000);
  // Only one newline goes: a value that really ends with one keeps the rest.
  const kept = loadConfig(schema, { PUSHFLOW_CONNECT_SECRET_FILE: secretFile(`${secret}\n\n`) });
  assert.equal(kept.PUSHFLOW_CONNECT_SECRET, `${secret}\n`);
  // An empty VAR (compose's `VAR: ${VAR:-}`) counts as unset.
  assert.equal(loadConfig(schema, { PUSHFLOW_CONNECT_SECRET: '', PUSHFLOW_CONNECT_SECRET_FILE: file }).PUSHFLOW_CONNECT_SECRET, secret);
});

test('<VAR>_FILE applies only to the variables of the schema', () => {
  const config = loadConfig(schema, { PUSHFLOW_CONNECT_SECRET: secret, NOT_IN_SCHEMA_FILE: secretFile('x') });
  assert.equal('NOT_IN_SCHEMA' in config, false);
});

test('VAR and VAR_FILE both set is an error naming both', () => {
  assert.throws(
    () => loadConfig(schema, { PUSHFLOW_CONNECT_SECRET: secret, PUSHFLOW_CONNECT_SECRET_FILE: secretFile(secret) }),
    (err: unknown) =>
      err instanceof ConfigError &&
      err.variable === 'PUSHFLOW_CONNECT_SECRET' &&
      err.message.includes('PUSHFLOW_CONNECT_SECRET_FILE') &&
      !err.message.includes(secret),
  );
});

test('an unreadable or empty VAR_FILE is an error naming VAR_FILE', () => {
  const missing = join(tmpdir(), 'pushflow-no-such-dir', 'secret');
  for (const path of [missing, mkdtempSync(join(tmpdir(), 'pushflow-config-')), secretFile(''), secretFile('\n')]) {
    assert.throws(
      () => loadConfig(schema, { PUSHFLOW_CONNECT_SECRET_FILE: path }),
      (err: unknown) => err instanceof ConfigError && err.variable === 'PUSHFLOW_CONNECT_SECRET_FILE' && err.message.includes(path),
      path,
    );
  }
});

test('a bad value read from a file is never echoed, whatever the variable is called', () => {
  assert.throws(
    () => loadConfig(schema, { PUSHFLOW_CONNECT_SECRET: secret, REDIS_URL_FILE: secretFile('hunter2-as-url') }),
    (err: unknown) => err instanceof ConfigError && err.variable === 'REDIS_URL' && !err.message.includes('hunter2'),
  );
});

test('a bad URL is echoed without its credentials', () => {
  assert.throws(
    () => loadConfig(schema, { PUSHFLOW_CONNECT_SECRET: secret, REDIS_URL: 'redis//:hunter2@cache:6379' }),
    (err: unknown) =>
      err instanceof ConfigError &&
      err.variable === 'REDIS_URL' &&
      !err.message.includes('hunter2') &&
      err.message.includes('<redacted>@cache:6379'),
  );
});

// ---- PUSHFLOW_ENV=production ----------------------------------------------------------------

const backendSchema = Type.Object({
  REDIS_URL: common.REDIS_URL,
  MONGO_URL: common.MONGO_URL,
  PUSHFLOW_CONNECT_SECRET: common.PUSHFLOW_CONNECT_SECRET,
  PUSHFLOW_API_KEYS: Type.String({ minLength: 16 }),
});
const realSecret = 'c2f0a9d8e7b6a5f4c3d2e1f0a9b8c7d6';
const production = {
  PUSHFLOW_ENV: 'production',
  REDIS_URL: 'redis://:9f8e7d6c5b4a39281706f5e4d3c2b1a0@cache:6379',
  MONGO_URL: 'mongodb://pushflow:0a1b2c3d4e5f60718293a4b5c6d7e8f9@db1:27017,db2:27017/pushflow?authSource=admin',
  PUSHFLOW_CONNECT_SECRET: realSecret,
  PUSHFLOW_API_KEYS: 'key-0123456789abcdef,key-fedcba9876543210',
};

function load<T extends TObject = typeof backendSchema>(env: NodeJS.ProcessEnv, s: T = backendSchema as unknown as T) {
  const warnings: ConfigWarning[] = [];
  const config = loadConfig(s, env, { warn: (w) => warnings.push(w) });
  return { config, warnings };
}

test('PUSHFLOW_ENV defaults to development and accepts only development or production', () => {
  const { config, warnings } = load({
    ...production,
    PUSHFLOW_ENV: undefined,
    PUSHFLOW_CONNECT_SECRET: 'dev-only-connect-secret-change-me-0000000000',
  });
  assert.equal(config.PUSHFLOW_CONNECT_SECRET, 'dev-only-connect-secret-change-me-0000000000', 'development accepts dev-only values');
  assert.deepEqual(warnings, []);
  for (const bad of ['prod', 'Production', 'staging']) {
    assert.throws(
      () => load({ ...production, PUSHFLOW_ENV: bad }),
      (err: unknown) => err instanceof ConfigError && err.variable === 'PUSHFLOW_ENV' && err.message.includes(bad),
    );
  }
  const withEnv = loadConfig(Type.Object({ PUSHFLOW_ENV: common.PUSHFLOW_ENV }), { PUSHFLOW_ENV: 'production' });
  assert.equal(withEnv.PUSHFLOW_ENV, 'production');
});

test('production accepts real secrets and passwords without a warning', () => {
  const { config, warnings } = load(production);
  assert.equal(config.REDIS_URL, production.REDIS_URL);
  assert.deepEqual(warnings, []);
});

test('production refuses every development secret, naming the variable and never quoting the secret', () => {
  const devValues: [string, string, string][] = [
    ['PUSHFLOW_CONNECT_SECRET', 'dev-only-connect-secret-change-me-0000000000', 'dev-only-connect-secret'],
    ['PUSHFLOW_CONNECT_SECRET', `${realSecret}-DEV-ONLY`, 'DEV-ONLY'],
    ['PUSHFLOW_API_KEYS', 'dev-only-api-key-change-me', 'dev-only-api-key'],
    // One development key among real ones is enough.
    ['PUSHFLOW_API_KEYS', 'key-0123456789abcdef, dev-only-api-key-change-me', 'dev-only-api-key'],
    ['REDIS_URL', 'redis://:dev-only-redis-password-change-me@cache:6379', 'dev-only-redis-password'],
    ['REDIS_URL', 'rediss://default:Dev-Only-x@cache:6380', 'Dev-Only-x'],
    ['REDIS_URL', 'redis://:changeme@cache:6379', 'changeme'],
    ['MONGO_URL', 'mongodb://pushflow:dev-only-mongo-password-change-me@db:27017/pushflow?authSource=admin', 'dev-only-mongo-password'],
    ['MONGO_URL', 'mongodb://admin:Password@db1:27017,db2:27017/pushflow', 'Password'],
    ['MONGO_URL', 'mongodb+srv://u:dev%2Donly%2Dencoded@cluster.example.net/pushflow', 'encoded'],
  ];
  for (const [variable, value, secretPart] of devValues) {
    assert.throws(
      () => load({ ...production, [variable]: value }),
      (err: unknown) =>
        err instanceof ConfigError &&
        err.variable === variable &&
        err.message.startsWith(`${variable}: `) &&
        !err.message.includes(secretPart) &&
        /PUSHFLOW_ENV=production/.test(err.message),
      `${variable}=${value}`,
    );
  }
});

test('production checks only the variables the schema has', () => {
  const redisOnly = Type.Object({ REDIS_URL: common.REDIS_URL });
  const { config } = load({ ...production, PUSHFLOW_CONNECT_SECRET: 'dev-only-connect-secret-change-me-0000000000' }, redisOnly);
  assert.deepEqual(config, { REDIS_URL: production.REDIS_URL });
});

test('production warns, without stopping, when REDIS_URL or MONGO_URL carries no password', () => {
  const { warnings } = load({ ...production, REDIS_URL: 'rediss://cache:6380', MONGO_URL: 'mongodb://pushflow@db:27017/pushflow' });
  assert.deepEqual(
    warnings.map((w) => w.variable),
    ['REDIS_URL', 'MONGO_URL'],
  );
  // The defaults (a local server without a password) warn too.
  assert.deepEqual(
    load({ ...production, REDIS_URL: undefined, MONGO_URL: undefined }).warnings.map((w) => w.variable),
    ['REDIS_URL', 'MONGO_URL'],
  );
  // MongoDB authenticating without a password (X.509, AWS IAM) says so in the URL.
  const x509 = 'mongodb://db:27017/pushflow?tls=true&authMechanism=MONGODB-X509';
  assert.deepEqual(load({ ...production, MONGO_URL: x509 }).warnings, []);
  // Development never warns.
  assert.deepEqual(load({ ...production, PUSHFLOW_ENV: 'development', REDIS_URL: 'redis://cache:6379' }).warnings, []);
});

test('a secret read from a file gets the production check too', () => {
  assert.throws(
    () =>
      load({
        ...production,
        PUSHFLOW_CONNECT_SECRET: undefined,
        PUSHFLOW_CONNECT_SECRET_FILE: secretFile('dev-only-connect-secret-change-me-0000000000\n'),
      }),
    (err: unknown) => err instanceof ConfigError && err.variable === 'PUSHFLOW_CONNECT_SECRET',
  );
});

test('urlCredentials finds the user and password of single- and multi-host URLs', () => {
  assert.deepEqual(urlCredentials('redis://:p%40ss@cache:6379/0'), { username: '', password: 'p@ss' });
  assert.deepEqual(urlCredentials('mongodb://u:pw@h1:1,h2:2/db?authSource=admin'), { username: 'u', password: 'pw' });
  assert.deepEqual(urlCredentials('redis://user@cache'), { username: 'user', password: '' });
  assert.equal(urlCredentials('redis://cache:6379'), undefined);
  assert.equal(urlCredentials('redis://cache:6379/?x=a@b'), undefined);
  assert.equal(withoutCredentials('mongodb://u:p@w@h/db'), 'mongodb://<redacted>@h/db');
});

test('a service refuses a development secret in production: exit 78, the variable named, the secret never printed', () => {
  const code = `import { loadConfigOrExit, common } from './shared/src/config/config.ts'; import { Type } from '@sinclair/typebox';
    loadConfigOrExit('demo', Type.Object({ REDIS_URL: common.REDIS_URL }));`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], {
    env: { ...process.env, PUSHFLOW_ENV: 'production', REDIS_URL: 'redis://:dev-only-zebra@cache:6379' },
    encoding: 'utf8',
  });
  assert.equal(r.status, 78, r.stderr);
  assert.match(r.stderr, /^demo: invalid configuration: REDIS_URL: /m);
  assert.ok(!r.stderr.includes('zebra') && !r.stdout.includes('zebra'), r.stderr);
});

test('in production a service without a Redis password starts, with one warning line on stderr', () => {
  const code = `import { loadConfigOrExit, common } from './shared/src/config/config.ts'; import { Type } from '@sinclair/typebox';
    loadConfigOrExit('demo', Type.Object({ REDIS_URL: common.REDIS_URL })); console.log('started');`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], {
    env: { ...process.env, PUSHFLOW_ENV: 'production', REDIS_URL: 'redis://cache:6379' },
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'started');
  assert.match(r.stderr, /^configuration warning: REDIS_URL: carries no password/m);
});
