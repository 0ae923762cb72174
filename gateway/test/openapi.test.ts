import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { redisServer, type Server } from '../../local-stack/servers.ts';
import { uniquePrefix } from '../../local-stack/isolation.ts';
import { problemTypes } from '../src/problems.ts';
import { startGateway, type Gateway } from './peer.ts';

type Doc = Record<string, any>;

describe('OpenAPI document and docs page', { timeout: 20_000 }, () => {
  let server: Server;
  let gw: Gateway;
  let doc: Doc;

  before(async () => {
    server = await redisServer();
    gw = await startGateway(server.url, uniquePrefix());
    const res = await gw.app.inject({ method: 'GET', url: '/openapi.json' });
    assert.equal(res.statusCode, 200);
    doc = res.json();
  });
  after(async () => {
    await gw?.close();
    await server?.stop();
  });

  it('is an OpenAPI 3 document with the required top-level fields', () => {
    assert.match(doc.openapi, /^3\.\d+\.\d+$/);
    assert.equal(doc.info.title, 'PushFlow API');
    assert.equal(typeof doc.info.version, 'string');
    assert.equal(typeof doc.paths, 'object');
    assert.deepEqual(doc.components.securitySchemes.bearerAuth, {
      type: 'http',
      scheme: 'bearer',
      description: 'One of the keys in PUSHFLOW_API_KEYS',
    });
    assert.deepEqual(doc.security, [{ bearerAuth: [] }]);
    for (const slug of Object.keys(problemTypes)) assert.ok(doc.info.description.includes(`urn:pushflow:problem:${slug}`));
  });

  it('lists the three API paths with their request and response schemas', () => {
    const send = doc.paths['/notifications']?.post;
    assert.ok(send, 'POST /notifications');
    const body = send.requestBody.content['application/json'].schema;
    assert.deepEqual(body.required, ['recipientId']);
    assert.equal(body.additionalProperties, false);
    assert.equal(body.properties.recipientId.pattern, '^[A-Za-z0-9_.@-]+$');
    assert.deepEqual(Object.keys(send.responses).sort(), ['202', '400', '401', '413', '415', '422', '429', '503', '504']);
    assert.equal(body.properties.recipientId.maxLength, 128, 'the configured limits, defaults here');
    assert.equal(body.properties.title.maxLength, 256);
    assert.equal(body.properties.body.maxLength, 4096);
    assert.match(send.responses['413'].description, /65536 bytes/);
    assert.ok(send.responses['429'].content['application/problem+json'].schema);
    assert.equal(send.responses['429'].headers['retry-after'].schema.type, 'integer');
    const idem = send.parameters.find((p: Doc) => p.name === 'idempotency-key');
    assert.equal(idem?.in, 'header');
    assert.equal(idem.required, false);
    assert.equal(idem.schema.maxLength, 255);
    assert.match(idem.schema.description ?? idem.description, /PUSHFLOW_STATUS_TTL_DAYS/);
    assert.deepEqual(send.responses['202'].content['application/json'].schema.required, ['notificationId', 'status', 'acceptedAt']);

    const batch = doc.paths['/notifications/batch']?.post;
    assert.ok(batch, 'POST /notifications/batch');
    assert.equal(batch.operationId, 'sendNotificationBatch');
    const list = batch.requestBody.content['application/json'].schema;
    assert.deepEqual(list.required, ['notifications']);
    assert.equal(list.properties.notifications.minItems, 1);
    assert.equal(list.properties.notifications.maxItems, 1000, 'PUSHFLOW_MAX_BATCH_SIZE by default');
    assert.deepEqual(list.properties.notifications.items, body, 'each item as the body of POST /notifications');
    assert.deepEqual(Object.keys(batch.responses).sort(), ['202', '400', '401', '413', '415', '422', '429', '503', '504']);
    assert.match(batch.responses['413'].description, /4194304 bytes/);
    for (const code of ['400', '422', '429', '503', '504'])
      assert.ok(batch.responses[code].content['application/problem+json'].schema, code);
    assert.equal(batch.responses['429'].headers['ratelimit-remaining'].schema.type, 'integer');
    const accepted = batch.responses['202'].content['application/json'].schema;
    assert.deepEqual(accepted.required, ['notifications']);
    assert.deepEqual(accepted.properties.notifications.items.required, ['notificationId', 'status', 'acceptedAt']);
    assert.match(batch.description, /errors\[\]\.path/);
    assert.match(batch.description, /partition/, 'says when a refusal can be partial');
    const batchKey = batch.parameters.find((p: Doc) => p.name === 'idempotency-key');
    assert.equal(batchKey?.in, 'header');
    assert.match(batchKey.schema.description ?? batchKey.description, /scoped to the API key and to the route/);

    const status = doc.paths['/notifications/{id}/status']?.get;
    assert.ok(status, 'GET /notifications/{id}/status');
    assert.equal(status.parameters[0].name, 'id');
    assert.equal(status.parameters[0].in, 'path');
    assert.equal(status.parameters[0].schema.format, 'uuid');
    assert.ok(status.responses['200'].content['application/json'].schema.properties.history);
    assert.ok(status.responses['404'].content['application/problem+json'].schema);

    const tokens = doc.paths['/connect-tokens']?.post;
    assert.ok(tokens, 'POST /connect-tokens');
    assert.equal(tokens.requestBody.content['application/json'].schema.properties.ttlSeconds.maximum, 86_400);
    assert.deepEqual(tokens.responses['201'].content['application/json'].schema.required, ['token', 'expiresAt']);

    for (const [path, method] of [
      ['/healthz', 'get'],
      ['/readyz', 'get'],
    ] as const) {
      assert.deepEqual(doc.paths[path][method].security, [], `${path} is public`);
    }
    assert.equal(doc.paths['/openapi.json'], undefined);
    // The dashboard's JSON is API (behind the key); its page is not (gateway/test/dashboard.test.ts).
    for (const path of ['/dashboard/api/activity', '/dashboard/api/notifications', '/dashboard/api/streams', '/dashboard/api/nodes']) {
      assert.ok(doc.paths[path]?.get, path);
    }
    assert.equal(doc.paths['/dashboard'], undefined);
  });

  it('describes problems once, and every $ref resolves', () => {
    const problem = doc.components.schemas.Problem;
    assert.ok(problem, JSON.stringify(Object.keys(doc.components.schemas ?? {})));
    assert.deepEqual(problem.required, ['type', 'title', 'status']);
    const refs: string[] = [];
    (function walk(node: unknown) {
      if (Array.isArray(node)) node.forEach(walk);
      else if (node && typeof node === 'object') {
        for (const [k, v] of Object.entries(node)) k === '$ref' ? refs.push(v as string) : walk(v);
      }
    })(doc);
    assert.ok(refs.length > 0);
    for (const ref of refs) {
      assert.match(ref, /^#\//);
      const target = ref
        .slice(2)
        .split('/')
        .reduce<any>((n, part) => n?.[part], doc);
      assert.ok(target, `unresolved ${ref}`);
    }
  });

  it('serves the docs page', async () => {
    const res = await gw.app.inject({ method: 'GET', url: '/docs/' });
    if (res.statusCode === 302) assert.ok(res.headers.location);
    else {
      assert.equal(res.statusCode, 200);
      assert.match(res.body, /swagger-ui/i);
    }
    const page = await gw.app.inject({ method: 'GET', url: '/docs' });
    assert.ok([200, 302].includes(page.statusCode), String(page.statusCode));
  });
});
