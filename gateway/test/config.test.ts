import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CONTENT_CEILINGS, ConfigError } from '@pushflow/shared';
import { batchLimits, contentLimits, loadGatewayConfig } from '../src/config.ts';

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

  it('reads the request limits, the rate limit and the token audience, with their defaults', () => {
    const config = loadGatewayConfig(valid);
    assert.equal(config.PUSHFLOW_HTTP_BODY_LIMIT_BYTES, 65_536);
    assert.deepEqual(contentLimits(config), { recipientIdLength: 128, titleLength: 256, bodyLength: 4096, dataBytes: 8192, dataDepth: 8 });
    assert.equal(config.PUSHFLOW_RATE_LIMIT_PER_SECOND, 1000);
    assert.equal(config.PUSHFLOW_RATE_LIMIT_BURST, 2000);
    assert.equal(config.PUSHFLOW_TOKEN_AUDIENCE, undefined);
    const set = loadGatewayConfig({
      ...valid,
      PUSHFLOW_MAX_TITLE_LENGTH: '1024',
      PUSHFLOW_RATE_LIMIT_PER_SECOND: '0',
      PUSHFLOW_TOKEN_AUDIENCE: 'pushflow',
      PUSHFLOW_HTTP_BODY_LIMIT_BYTES: '1048576',
    });
    assert.equal(set.PUSHFLOW_MAX_TITLE_LENGTH, 1024);
    assert.equal(set.PUSHFLOW_RATE_LIMIT_PER_SECOND, 0);
    assert.equal(set.PUSHFLOW_TOKEN_AUDIENCE, 'pushflow');
    assert.equal(set.PUSHFLOW_HTTP_BODY_LIMIT_BYTES, 1_048_576);
  });

  it('names a limit set above its ceiling, below its floor, or not a number', () => {
    const over: Record<string, number> = {
      PUSHFLOW_MAX_RECIPIENT_ID_LENGTH: CONTENT_CEILINGS.recipientIdLength,
      PUSHFLOW_MAX_TITLE_LENGTH: CONTENT_CEILINGS.titleLength,
      PUSHFLOW_MAX_BODY_LENGTH: CONTENT_CEILINGS.bodyLength,
      PUSHFLOW_MAX_DATA_BYTES: CONTENT_CEILINGS.dataBytes,
      PUSHFLOW_MAX_DATA_DEPTH: CONTENT_CEILINGS.dataDepth,
      PUSHFLOW_HTTP_BODY_LIMIT_BYTES: 1_048_576,
      PUSHFLOW_MAX_BATCH_SIZE: 10_000,
      PUSHFLOW_MAX_BATCH_BODY_BYTES: 33_554_432,
    };
    for (const [name, ceiling] of Object.entries(over)) {
      const atCeiling = loadGatewayConfig({ ...valid, [name]: String(ceiling) }) as unknown as Record<string, unknown>;
      assert.equal(atCeiling[name], ceiling, `${name} at its ceiling`);
      const err = configError({ ...valid, [name]: String(ceiling + 1) });
      assert.equal(err.variable, name);
      assert.match(err.message, new RegExp(`^${name}: .*${ceiling}`));
    }
    for (const [name, value] of [
      ['PUSHFLOW_MAX_TITLE_LENGTH', '0'],
      ['PUSHFLOW_MAX_DATA_DEPTH', 'deep'],
      ['PUSHFLOW_RATE_LIMIT_PER_SECOND', '-1'],
      ['PUSHFLOW_RATE_LIMIT_BURST', '0'],
      ['PUSHFLOW_HTTP_BODY_LIMIT_BYTES', 'lots'],
      ['PUSHFLOW_TOKEN_AUDIENCE', 'a'.repeat(257)],
    ] as const) {
      assert.equal(configError({ ...valid, [name]: value }).variable, name, `${name}=${value}`);
    }
  });

  it('reads the batch limits and the access log setting, with their defaults; the rate limit burst caps the batch size', () => {
    const config = loadGatewayConfig(valid);
    assert.equal(config.PUSHFLOW_MAX_BATCH_SIZE, 1000);
    assert.equal(config.PUSHFLOW_MAX_BATCH_BODY_BYTES, 4_194_304);
    assert.equal(config.PUSHFLOW_ACCESS_LOG, false);
    assert.deepEqual(batchLimits(config), { maxItems: 1000, bodyLimitBytes: 4_194_304 });
    assert.equal(loadGatewayConfig({ ...valid, PUSHFLOW_ACCESS_LOG: 'true' }).PUSHFLOW_ACCESS_LOG, true);
    assert.equal(loadGatewayConfig({ ...valid, PUSHFLOW_ACCESS_LOG: 'false' }).PUSHFLOW_ACCESS_LOG, false);
    assert.equal(config.PUSHFLOW_HTTP_SERVER, 'uws');
    assert.equal(loadGatewayConfig({ ...valid, PUSHFLOW_HTTP_SERVER: 'node' }).PUSHFLOW_HTTP_SERVER, 'node');
    // A batch spends one unit a notification: one larger than the burst could never pass.
    assert.equal(batchLimits(loadGatewayConfig({ ...valid, PUSHFLOW_RATE_LIMIT_BURST: '300' })).maxItems, 300);
    assert.equal(
      batchLimits(loadGatewayConfig({ ...valid, PUSHFLOW_RATE_LIMIT_BURST: '300', PUSHFLOW_RATE_LIMIT_PER_SECOND: '0' })).maxItems,
      1000,
    );
    for (const [name, value] of [
      ['PUSHFLOW_MAX_BATCH_SIZE', '0'],
      ['PUSHFLOW_MAX_BATCH_SIZE', 'many'],
      ['PUSHFLOW_MAX_BATCH_BODY_BYTES', '1023'],
      ['PUSHFLOW_ACCESS_LOG', 'yes'],
      ['PUSHFLOW_HTTP_SERVER', 'fastify'],
    ] as const) {
      assert.equal(configError({ ...valid, [name]: value }).variable, name, `${name}=${value}`);
    }
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
