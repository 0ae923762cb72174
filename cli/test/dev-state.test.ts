import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { devStatePath, readDevState, removeDevState, writeDevState, type DevState } from '../src/dev-state.ts';
import { gatewayValues, redisSettings, replayEnv } from '../src/settings.ts';
import { devLineFormatter } from '../../local-stack/dev-logs.ts';

/** The state file of `make dev` and the CLI's lookup order over it; cli/test/dev-stack.test.ts runs the real thing. */

function withStateDir(run: (env: NodeJS.ProcessEnv, dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'pushflow-dev-state-'));
  try {
    run({ PUSHFLOW_DEV_STATE: join(dir, 'dev.json') }, dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const state = (pid = process.pid): DevState => ({
  pid,
  gatewayUrl: 'http://127.0.0.1:3999',
  apiKey: 'key-of-make-dev',
  redisUrl: 'redis://127.0.0.1:6399',
  prefix: 'dev-prefix:',
  mongoUrl: 'mongodb://127.0.0.1:27099/pushflow',
});

/** The pid of a process that has exited. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', '']);
  assert.equal(r.status, 0);
  return r.pid!;
}

test('the state file lives in the cache folder of the Makefile and node.sh, PUSHFLOW_DEV_STATE first', () => {
  assert.equal(devStatePath({ PUSHFLOW_CACHE_DIR: '/c', XDG_CACHE_HOME: '/x', HOME: '/h' }), '/c/dev.json');
  assert.equal(devStatePath({ XDG_CACHE_HOME: '/x' }), '/x/pushflow/dev.json');
  assert.equal(devStatePath({ PUSHFLOW_DEV_STATE: '/s.json', PUSHFLOW_CACHE_DIR: '/c' }), '/s.json');
  assert.match(devStatePath({}), /\/\.cache\/pushflow\/dev\.json$/);
});

test('written for its owner only, read back while its pid lives, removed only by that pid', () => {
  withStateDir((env) => {
    const path = writeDevState(state(), env);
    assert.equal(statSync(path).mode & 0o777, 0o600, 'it holds the API key');
    assert.deepEqual(readDevState(env), state());
    removeDevState(process.pid + 1, env);
    assert.ok(existsSync(path), "another make dev's stop leaves it");
    removeDevState(process.pid, env);
    assert.equal(existsSync(path), false);
    assert.equal(readDevState(env), undefined);
  });
});

test('a state whose make dev is gone, or a file that is no state, is ignored', () => {
  withStateDir((env) => {
    writeDevState(state(deadPid()), env);
    assert.equal(readDevState(env), undefined);
    assert.deepEqual(redisSettings({}, env), { url: 'redis://127.0.0.1:6379', prefix: 'pushflow:', found: false });
    assert.deepEqual(gatewayValues({}, env), { found: false });
    for (const text of ['not json', '{"pid":1}', JSON.stringify({ ...state(), pid: 0 })]) {
      writeFileSync(env.PUSHFLOW_DEV_STATE!, text);
      assert.equal(readDevState(env), undefined, text);
    }
  });
});

test('lookup: the option, then the variable, then make dev, then the default; its key and prefix go only with its own servers', () => {
  withStateDir((env) => {
    writeDevState(state(), env);
    assert.deepEqual(gatewayValues({}, env), { url: 'http://127.0.0.1:3999', 'api-key': 'key-of-make-dev', found: true });
    // localhost and 127.0.0.1 on the same port are the same gateway.
    assert.deepEqual(gatewayValues({}, { ...env, PUSHFLOW_URL: 'http://localhost:3999' }), {
      url: 'http://localhost:3999',
      'api-key': 'key-of-make-dev',
      found: true,
    });
    assert.deepEqual(gatewayValues({}, { ...env, PUSHFLOW_URL: 'https://push.example.com' }), {
      url: 'https://push.example.com',
      found: true,
    });
    assert.deepEqual(gatewayValues({ url: 'http://127.0.0.1:4000' }, env), { url: 'http://127.0.0.1:4000', found: true });
    assert.deepEqual(gatewayValues({}, { ...env, PUSHFLOW_API_KEY: 'mine' }), { url: 'http://127.0.0.1:3999', found: true });
    assert.deepEqual(gatewayValues({ 'api-key': 'flag' }, env), { url: 'http://127.0.0.1:3999', 'api-key': 'flag', found: true });

    assert.deepEqual(redisSettings({}, env), { url: 'redis://127.0.0.1:6399', prefix: 'dev-prefix:', found: true });
    assert.deepEqual(redisSettings({}, { ...env, REDIS_URL: 'redis://elsewhere:6379' }), {
      url: 'redis://elsewhere:6379',
      prefix: 'pushflow:',
      found: true,
    });
    assert.deepEqual(redisSettings({ redis: 'redis://flag:1', prefix: 'p:' }, { ...env, REDIS_URL: 'redis://env:2' }), {
      url: 'redis://flag:1',
      prefix: 'p:',
      found: true,
    });
    assert.deepEqual(redisSettings({}, { ...env, PUSHFLOW_REDIS_PREFIX: 'mine:' }).prefix, 'mine:');

    assert.equal(replayEnv(env).MONGO_URL, 'mongodb://127.0.0.1:27099/pushflow');
    assert.equal(
      replayEnv({ ...env, MONGO_URL: 'mongodb://x/y' }).REDIS_URL,
      undefined,
      'a replay pointed anywhere takes nothing of make dev',
    );
  });
});

test('make dev shows pino lines pretty on a terminal only, as one line each', () => {
  const line = JSON.stringify({ level: 40, time: '2026-01-02T03:04:05.678Z', service: 'gateway', pid: 1, msg: 'hello', port: 3000 });
  assert.equal(devLineFormatter(false)(line), line);
  const pretty = devLineFormatter(true)(line);
  assert.notEqual(pretty, line);
  assert.match(pretty, /WARN/);
  assert.match(pretty, /hello/);
  assert.match(pretty, /"?port"?: ?3000/);
  assert.doesNotMatch(pretty, /\n/);
  assert.doesNotMatch(pretty, /"service"/, 'the label already names the service');
  assert.equal(devLineFormatter(true)('not a log line'), 'not a log line');
});
