import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { freePort } from '../../local-stack/servers.ts';
import { root, startStack, type Stack } from '../../local-stack/stack.ts';
import { waitFor } from '../../test/harness/wait.ts';
import { createPushFlow } from '../src/index.ts';

/**
 * The package as a user gets it: `npm pack` (which builds dist/), installed into an empty
 * project in a temporary folder, then used from there by a plain ES module run with the
 * `node` on PATH (a backend that sends, mints tokens and receives webhooks, against a real
 * stack) and by a TypeScript file checked with tsc against the published .d.ts files; and
 * the quick starts of docs/server.md run from there as written, Express and Fastify installed
 * beside the package as a user would.
 */
const run = promisify(execFile);
let stack: Stack;
let project: string;
let tarball: string;

before(async () => {
  project = mkdtempSync(join(tmpdir(), 'pushflow-server-pack-'));
  stack = await startStack({ env: { PUSHFLOW_WEBHOOK_ALLOW_PRIVATE: 'true', PUSHFLOW_WEBHOOK_POLL_MS: '100' } });
});
after(async () => {
  await stack?.stop();
  if (project) rmSync(project, { recursive: true, force: true });
});

test('npm pack holds dist and the manifest, no sources or tests', { timeout: 120_000 }, async () => {
  const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', project], {
    cwd: join(root, 'server'),
    maxBuffer: 16 << 20,
  });
  const [packed] = JSON.parse(stdout.slice(stdout.indexOf('['))) as { filename: string; files: { path: string }[] }[];
  tarball = join(project, packed!.filename);
  const files = packed!.files.map((f) => f.path).sort();
  assert.ok(files.includes('dist/index.js') && files.includes('dist/index.d.ts'), files.join(' '));
  assert.deepEqual(
    files.filter((f) => !f.startsWith('dist/')),
    ['README.md', 'package.json'],
  );
  assert.ok(!files.some((f) => f.endsWith('.ts') && !f.endsWith('.d.ts')), files.join(' '));
});

test('installed into an empty project: sends, mints a token, verifies a webhook; its types check', { timeout: 180_000 }, async () => {
  assert.ok(tarball, 'the pack test did not run');
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'my-backend', private: true, type: 'module' }));
  await run('npm', ['install', tarball, '--prefer-offline', '--no-audit', '--no-fund'], { cwd: project, maxBuffer: 16 << 20 });
  // Only standardwebhooks (and its own two dependencies) came with it.
  assert.deepEqual(readdirSync(join(project, 'node_modules')).sort(), [
    '.package-lock.json',
    '@pushflow',
    '@stablelib',
    'fast-sha256',
    'standardwebhooks',
  ]);

  writeFileSync(join(project, 'backend.mjs'), BACKEND);
  const { stdout } = await run('node', ['backend.mjs'], {
    cwd: project,
    env: { ...process.env, PUSHFLOW_URL: stack.gatewayUrl, PUSHFLOW_API_KEY: stack.apiKey, PUSHFLOW_CONNECT_SECRET: stack.connectSecret },
    timeout: 60_000,
  });
  const report = JSON.parse(stdout);
  assert.equal(report.accepted.status, 'ACCEPTED');
  assert.equal(report.status.status, 'FAILED');
  assert.equal(report.tokenParts, 3);
  assert.equal(report.webhookType, 'webhook.test');
  assert.equal(report.forged, 'webhook-signature-invalid');
  assert.deepEqual(report.notFound, { name: 'PushFlowApiError', code: 'not-found', status: 404 });

  writeFileSync(join(project, 'backend.ts'), TYPED);
  writeFileSync(
    join(project, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        target: 'ES2022',
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        strict: true,
        noEmit: true,
        types: ['node'],
        typeRoots: [join(root, 'node_modules/@types')],
      },
      files: ['backend.ts'],
    }),
  );
  const tsc = join(root, 'node_modules/typescript/bin/tsc');
  const checked = await run(process.execPath, [tsc, '-p', project], { cwd: project }).catch((e) => e);
  assert.equal(checked.code ?? 0, 0, `${checked.stdout}${checked.stderr}`);
  // And a type error is caught: the declarations are really read.
  writeFileSync(join(project, 'backend.ts'), `${TYPED}\nawait pushflow.send({ recipient: 'alice' });\n`);
  const broken = await run(process.execPath, [tsc, '-p', project], { cwd: project }).catch((e) => e);
  assert.match(String(broken.stdout), /recipient/);
});

test('the quick starts of docs/server.md run as written', { timeout: 180_000 }, async () => {
  assert.ok(tarball, 'the pack test did not run');
  const env = {
    ...process.env,
    PUSHFLOW_URL: stack.gatewayUrl,
    PUSHFLOW_API_KEY: stack.apiKey,
    PUSHFLOW_CONNECT_SECRET: stack.connectSecret,
  };
  writeFileSync(join(project, 'send.mjs'), quickStart('Quick start: a Node backend'));
  const { stdout } = await run('node', ['send.mjs'], { cwd: project, env, timeout: 60_000 });
  assert.match(stdout, /^token for alice, until \S+Z ey/m);
  assert.match(stdout, /^FAILED RECIPIENT_OFFLINE/m);
  assert.match(stdout, /^400 validation-failed [\s\S]*\/body\/recipientId/m);

  await run('npm', ['install', 'express@5', 'fastify@5', '--prefer-offline', '--no-audit', '--no-fund'], {
    cwd: project,
    maxBuffer: 16 << 20,
  });
  await webBackend(
    'express.mjs',
    quickStart('Quick start: Express').replace('app.listen(4000)', 'app.listen(Number(process.env.PORT))'),
    env,
  );
  await webBackend('fastify.mjs', quickStart('Quick start: Fastify').replace('port: 4000', 'port: Number(process.env.PORT)'), env);
});

/**
 * Runs a quick start's web backend on a free port, with a webhook endpoint registered for it
 * first (its secret is the backend's setting), and uses it: a webhook.test message reaches its
 * log verified, a forged one is refused with its code, and its route sends a notification.
 */
async function webBackend(file: string, source: string, env: Record<string, string | undefined>): Promise<void> {
  assert.ok(source.includes('process.env.PORT'), `${file}: the quick start no longer listens on 4000`);
  writeFileSync(join(project, file), source);
  const port = await freePort();
  const pushflow = createPushFlow({ url: stack.gatewayUrl, apiKey: stack.apiKey });
  const hook = await pushflow.createWebhook({ url: `http://localhost:${port}/pushflow/webhooks`, events: ['notification.delivered'] });
  const backend = spawn('node', [file], { cwd: project, env: { ...env, PORT: String(port), PUSHFLOW_WEBHOOK_SECRET: hook.secret } });
  let log = '';
  backend.stdout.on('data', (c) => (log += c));
  backend.stderr.on('data', (c) => (log += c));
  const base = `http://localhost:${port}`;
  try {
    await waitFor(
      `${file} to listen`,
      () =>
        fetch(base).then(
          () => true,
          () => undefined,
        ),
      20_000,
      100,
    );
    const { messageId } = await pushflow.testWebhook(hook.id);
    await waitFor(`${file} to log the test message`, () => (log.includes(messageId) ? true : undefined));
    assert.match(log, /webhook\.test/);

    const forged = await fetch(`${base}/pushflow/webhooks`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'webhook-id': 'msg_forged',
        'webhook-timestamp': String(Math.floor(Date.now() / 1000)),
        'webhook-signature': 'v1,AAAA',
      },
      body: '{"type":"webhook.test"}',
    });
    assert.deepEqual([forged.status, await forged.text()], [401, 'webhook-signature-invalid'], log);
    assert.ok(!log.includes('msg_forged'), log);

    const res = await fetch(`${base}/orders/7/shipped`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ userId: 'alice' }),
    });
    assert.equal(res.status, 202, log);
    const { notificationId } = (await res.json()) as { notificationId: string };
    assert.equal((await pushflow.status(notificationId)).recipientId, 'alice');
  } finally {
    backend.kill();
    await pushflow.deleteWebhook(hook.id);
  }
}

/** The first js code block under a heading of docs/server.md. */
function quickStart(heading: string): string {
  const doc = readFileSync(join(root, 'docs/server.md'), 'utf8');
  const from = doc.indexOf(`## ${heading}\n`);
  assert.ok(from >= 0, `docs/server.md has no "## ${heading}"`);
  const block = /```js\n([\s\S]*?)```/.exec(doc.slice(from));
  assert.ok(block, `no js block under "## ${heading}"`);
  return block[1]!;
}

/** What a user's backend would write, in plain JavaScript. */
const BACKEND = `
import { createServer } from 'node:http';
import { createPushFlow, verifyWebhook, PushFlowApiError, WebhookVerificationError } from '@pushflow/server';

const pushflow = createPushFlow({ url: process.env.PUSHFLOW_URL, apiKey: process.env.PUSHFLOW_API_KEY, connectSecret: process.env.PUSHFLOW_CONNECT_SECRET });
const report = {};

let secret;
const got = new Promise((resolve) => {
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      try {
        const event = verifyWebhook(req.headers, body, secret);
        res.writeHead(204).end();
        // alice's notification.failed may come first: the endpoint hears every outcome.
        if (event.type !== 'webhook.test') return;
        try {
          verifyWebhook(req.headers, body.toString().replace('webhook.test', 'webhook.fake'), secret);
        } catch (err) {
          report.forged = err instanceof WebhookVerificationError ? err.code : String(err);
        }
        server.close();
        resolve(event);
      } catch {
        res.writeHead(400).end();
      }
    });
  });
  server.listen(0, '127.0.0.1', async () => {
    const hook = await pushflow.createWebhook({ url: 'http://127.0.0.1:' + server.address().port + '/hook' });
    secret = hook.secret;
    await pushflow.testWebhook(hook.id);
  });
});

report.accepted = await pushflow.send({ recipientId: 'alice', title: 'Hi' });
report.status = await pushflow.status(report.accepted.notificationId);
for (let i = 0; i < 100 && report.status.status !== 'FAILED'; i++) {
  await new Promise((r) => setTimeout(r, 50));
  report.status = await pushflow.status(report.accepted.notificationId);
}
report.tokenParts = (await pushflow.connectToken('alice')).token.split('.').length;
try {
  await pushflow.status('0190b2c4-1111-7abc-8def-0123456789ab');
} catch (err) {
  if (err instanceof PushFlowApiError) report.notFound = { name: err.name, code: err.code, status: err.status };
}
report.webhookType = (await got).type;
console.log(JSON.stringify(report));
`;

/** The same in TypeScript, for tsc to check against the published declarations. */
const TYPED = `
import type { IncomingMessage } from 'node:http';
import { createPushFlow, verifyWebhook, PushFlowApiError, problemTypes, type Accepted, type WebhookEvent } from '@pushflow/server';

const pushflow = createPushFlow({ url: 'http://localhost:3000', apiKey: 'key', retry: { retries: 3 }, timeoutMs: 5000 });
const accepted: Accepted[] = await pushflow.sendBatch([{ recipientId: 'alice', data: { orderId: 42 } }], { idempotencyKey: 'k' });
try {
  await pushflow.status(accepted[0]!.notificationId);
} catch (err) {
  if (err instanceof PushFlowApiError && err.type === problemTypes.notFound) console.log(err.status, err.problem?.detail);
}
export function receive(req: IncomingMessage, body: Buffer): WebhookEvent {
  return verifyWebhook(req.headers, body, 'whsec_x');
}
`;
