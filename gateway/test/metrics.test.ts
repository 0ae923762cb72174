import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { redisServer, type Server } from '../../local-stack/servers.ts';
import { uniquePrefix } from '../../local-stack/isolation.ts';
import { auth, startGateway, type Gateway } from './peer.ts';

const TOKEN = 'gateway-metrics-token-0123456789';
const PROBLEM = /^application\/problem\+json(; charset=utf-8)?$/;

describe('GET /metrics on the gateway', { timeout: 20_000 }, () => {
  let server: Server;
  let open: Gateway;
  let guarded: Gateway;

  before(async () => {
    server = await redisServer();
    open = await startGateway(server.url, uniquePrefix());
    guarded = await startGateway(server.url, uniquePrefix(), { env: { PUSHFLOW_METRICS_TOKEN: TOKEN }, gatewayId: 'guarded' });
  });
  after(async () => {
    await open?.close();
    await guarded?.close();
    await server?.stop();
  });

  it('answers the exposition text without auth when no token is set, even to a caller with no API key', async () => {
    const res = await open.app.inject({ method: 'GET', url: '/metrics' });
    assert.equal(res.statusCode, 200);
    assert.match(String(res.headers['content-type']), /^text\/plain; version=0\.0\.4; charset=utf-8$/);
    assert.match(res.body, /^# TYPE pushflow_http_request_duration_seconds histogram$/m);
    assert.match(res.body, /^pushflow_rate_limited_requests_total\{service="gateway"\} 0$/m);
  });

  it('times requests by route pattern, never by URL', async () => {
    const id = '0195f2a4-1111-7000-8000-000000000000';
    await open.app.inject({ method: 'GET', url: `/notifications/${id}/status` }); // 401: no API key
    await open.app.inject({ method: 'GET', url: '/no/such/path/42', headers: auth() });
    const text = (await open.app.inject({ method: 'GET', url: '/metrics' })).body;
    assert.match(
      text,
      /^pushflow_http_request_duration_seconds_count\{service="gateway",method="GET",route="\/notifications\/:id\/status",status_code="401"\} 1$/m,
    );
    assert.match(
      text,
      /^pushflow_http_request_duration_seconds_count\{service="gateway",method="GET",route="unmatched",status_code="404"\} 1$/m,
    );
    assert.ok(!text.includes(id) && !text.includes('/no/such/path'), 'the URL itself is no label');
  });

  it('with PUSHFLOW_METRICS_TOKEN set, answers 401 problem+json without it, the text with it', async () => {
    for (const headers of [{}, auth(), { authorization: 'Bearer not-the-metrics-token' }]) {
      const res = await guarded.app.inject({ method: 'GET', url: '/metrics', headers });
      assert.equal(res.statusCode, 401, JSON.stringify(headers));
      assert.match(String(res.headers['content-type']), PROBLEM);
      assert.equal(res.headers['www-authenticate'], 'Bearer');
      assert.equal(res.json().type, 'urn:pushflow:problem:unauthorized');
      assert.doesNotMatch(res.body, /pushflow_/);
    }
    const res = await guarded.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(res.statusCode, 200);
    assert.match(res.body, /pushflow_http_request_duration_seconds/);
  });

  it('is not part of the OpenAPI document: it is for the scraper, not API clients', async () => {
    const doc = (await open.app.inject({ method: 'GET', url: '/openapi.json' })).json();
    assert.equal(doc.paths['/metrics'], undefined);
  });
});
