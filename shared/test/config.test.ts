import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { Type } from '@sinclair/typebox';
import { ConfigError, common, loadConfig } from '../src/config.ts';

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
    REDIS_URL: 'redis://127.0.0.1:6379', PUSHFLOW_CONNECT_SECRET: secret, GATEWAY_PORT: 4000, LOG_LEVEL: 'info',
  });
});

test('a missing required variable, or a bad value, names the variable', () => {
  const cases: [NodeJS.ProcessEnv, string][] = [
    [{}, 'PUSHFLOW_CONNECT_SECRET'],
    [{ PUSHFLOW_CONNECT_SECRET: 'short' }, 'PUSHFLOW_CONNECT_SECRET'],
    [{ PUSHFLOW_CONNECT_SECRET: secret, GATEWAY_PORT: 'http' }, 'GATEWAY_PORT'],
    [{ PUSHFLOW_CONNECT_SECRET: secret, GATEWAY_PORT: '70000' }, 'GATEWAY_PORT'],
    [{ PUSHFLOW_CONNECT_SECRET: secret, REDIS_URL: 'localhost:6379' }, 'REDIS_URL'],
    [{ PUSHFLOW_CONNECT_SECRET: secret, LOG_LEVEL: 'loud' }, 'LOG_LEVEL'],
  ];
  for (const [env, variable] of cases) {
    assert.throws(() => loadConfig(schema, env), (err: unknown) => err instanceof ConfigError && err.variable === variable && err.message.startsWith(variable));
  }
});

test('a secret is never echoed back in the error', () => {
  assert.throws(() => loadConfig(schema, { PUSHFLOW_CONNECT_SECRET: 'hunter2' }), (err: Error) => !err.message.includes('hunter2'));
});

test('loadConfigOrExit stops the process with a message naming the variable', () => {
  const code = `import { loadConfigOrExit, common } from './shared/src/config.ts'; import { Type } from '@sinclair/typebox';
    loadConfigOrExit('demo', Type.Object({ PUSHFLOW_CONNECT_SECRET: common.PUSHFLOW_CONNECT_SECRET }));`;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { env: { ...process.env, PUSHFLOW_CONNECT_SECRET: '' }, encoding: 'utf8' });
  assert.equal(r.status, 78, r.stderr);
  assert.match(r.stderr, /demo: invalid configuration: PUSHFLOW_CONNECT_SECRET/);
});
