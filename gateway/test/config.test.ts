import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '@pushflow/shared';
import { loadGatewayConfig } from '../src/config.ts';

const valid = {
  PUSHFLOW_API_KEYS: 'key-one-0123456789, key-two-0123456789',
  PUSHFLOW_CONNECT_SECRET: 's'.repeat(32),
};

function configError(env: NodeJS.ProcessEnv): ConfigError {
  try {
    loadGatewayConfig(env);
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err;
  }
  assert.fail('expected a ConfigError');
}

describe('gateway config', () => {
  it('reads defaults and splits the key list', () => {
    const config = loadGatewayConfig(valid);
    assert.deepEqual(config.apiKeys, ['key-one-0123456789', 'key-two-0123456789']);
    assert.equal(config.GATEWAY_PORT, 3000);
    assert.equal(config.GATEWAY_HOST, '0.0.0.0');
    assert.equal(config.PUSHFLOW_REPLY_TIMEOUT_MS, 5000);
    assert.equal(config.PUSHFLOW_MAX_TOKEN_TTL_SECONDS, 86_400);
    assert.equal(config.PUSHFLOW_REDIS_PREFIX, 'pushflow:');
    assert.equal(loadGatewayConfig({ ...valid, GATEWAY_PORT: '8081' }).GATEWAY_PORT, 8081);
  });

  it('names PUSHFLOW_API_KEYS when it is missing or holds a short key, without quoting keys', () => {
    assert.equal(configError({ PUSHFLOW_CONNECT_SECRET: valid.PUSHFLOW_CONNECT_SECRET }).variable, 'PUSHFLOW_API_KEYS');
    const short = configError({ ...valid, PUSHFLOW_API_KEYS: 'key-one-0123456789,short-key' });
    assert.equal(short.variable, 'PUSHFLOW_API_KEYS');
    assert.match(short.message, /^PUSHFLOW_API_KEYS: key #2/);
    assert.doesNotMatch(short.message, /short-key|key-one/);
    assert.equal(configError({ ...valid, PUSHFLOW_API_KEYS: 'key-one-0123456789,,key-two-0123456789' }).variable, 'PUSHFLOW_API_KEYS');
  });

  it('names PUSHFLOW_CONNECT_SECRET when it is missing or too short', () => {
    assert.equal(configError({ PUSHFLOW_API_KEYS: valid.PUSHFLOW_API_KEYS }).variable, 'PUSHFLOW_CONNECT_SECRET');
    const short = configError({ ...valid, PUSHFLOW_CONNECT_SECRET: 'too-short' });
    assert.equal(short.variable, 'PUSHFLOW_CONNECT_SECRET');
    assert.doesNotMatch(short.message, /too-short/);
  });

  it('names other bad variables', () => {
    assert.equal(configError({ ...valid, GATEWAY_PORT: 'eighty' }).variable, 'GATEWAY_PORT');
    assert.equal(configError({ ...valid, PUSHFLOW_REPLY_TIMEOUT_MS: '0' }).variable, 'PUSHFLOW_REPLY_TIMEOUT_MS');
    assert.equal(configError({ ...valid, REDIS_URL: 'http://x' }).variable, 'REDIS_URL');
  });
});
