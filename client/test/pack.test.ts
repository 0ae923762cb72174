import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, test } from 'node:test';
import { Redis } from 'ioredis';
import { root, startStack, type Stack } from '../../local-stack/stack.ts';
import { apiOf } from '../../test/harness/api.ts';
import { presenceOf, statusBecomes } from './harness.ts';

/**
 * The package as a user gets it: `npm pack` (which builds it), installed into an empty
 * project, imported by name from an ES module run by Node against a real stack, and
 * type-checked by tsc from a TypeScript file of that project.
 */
const run = promisify(execFile);
const clientDir = join(root, 'client');
let project: string;
let stack: Stack;
let redis: Redis;

before(async () => {
  project = mkdtempSync(join(tmpdir(), 'pushflow-client-user-'));
  stack = await startStack();
  redis = new Redis(stack.redisUrl);
});

after(async () => {
  redis?.disconnect();
  await stack?.stop();
  if (project) rmSync(project, { recursive: true, force: true });
});

const api = apiOf(() => stack);

test('npm pack, npm install of the tarball in an empty project, used from there', { timeout: 180_000 }, async () => {
  const packed = JSON.parse((await run('npm', ['pack', '--json', '--pack-destination', project], { cwd: clientDir })).stdout) as {
    filename: string;
    files: { path: string }[];
  }[];
  const files = packed[0]!.files.map((f) => f.path).sort();
  assert.ok(files.includes('dist/index.js') && files.includes('dist/index.d.ts') && files.includes('package.json'), files.join(', '));
  assert.deepEqual(
    files.filter((f) => !/^dist\/[\w-]+\.(js|d\.ts)$/.test(f) && f !== 'package.json' && f !== 'README.md'),
    [],
    'nothing but the build, the manifest and the readme',
  );
  // TSDoc on every export: each declaration the package's index exports follows a /** comment.
  const dist = join(clientDir, 'dist');
  const exported = [...readFileSync(join(dist, 'index.d.ts'), 'utf8').matchAll(/\b(?:type\s+)?(\w+)(?=\s*[,}])/g)].map((m) => m[1]!);
  const undocumented = exported.filter((name) => {
    for (const file of readdirSync(dist).filter((f) => f.endsWith('.d.ts'))) {
      const lines = readFileSync(join(dist, file), 'utf8').split('\n');
      const at = lines.findIndex((l) => new RegExp(`^export (declare )?(interface|type|class|function|const) ${name}\\b`).test(l));
      if (at > 0) return !lines[at - 1]!.trim().endsWith('*/');
    }
    return true;
  });
  assert.ok(exported.length >= 10, `exports: ${exported.join(', ')}`);
  assert.deepEqual(undocumented, [], 'exports without TSDoc');

  const manifest = JSON.parse(readFileSync(join(clientDir, 'package.json'), 'utf8'));
  assert.equal(manifest.dependencies, undefined, 'zero runtime dependencies');

  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'an-app', private: true, type: 'module' }));
  // Offline: a package with no dependencies needs nothing from a registry.
  await run('npm', ['install', '--offline', '--no-audit', '--no-fund', join(project, packed[0]!.filename)], { cwd: project });
  assert.deepEqual(readdirSync(join(project, 'node_modules')).sort(), ['.package-lock.json', '@pushflow']);

  // The README's Node quick start, in short: connect, print the first notification, ack it, close.
  writeFileSync(
    join(project, 'listen.js'),
    `import { connect } from '@pushflow/client';
const client = connect({ url: process.argv[2], token: process.argv[3], autoAck: true });
client.addEventListener('state', (e) => e.detail.state === 'open' && console.error('open'));
for await (const n of client) {
  console.log(JSON.stringify(n));
  client.close();
}
`,
  );
  const recipientId = 'pack-user';
  const { token } = await api('POST', '/connect-tokens', { recipientId, ttlSeconds: 600 });
  const listening = run(process.execPath, ['listen.js', stack.deliveryUrls[0]!, token], { cwd: project, timeout: 30_000 });
  await presenceOf(stack, redis, recipientId);
  const sent = await api('POST', '/notifications', { recipientId, title: 'from a packed client' });
  const { stdout } = await listening;
  assert.equal(JSON.parse(stdout).notificationId, sent.notificationId, 'the process printed it and exited by itself');
  await statusBecomes(api, sent.notificationId, 'ACKNOWLEDGED');

  // Types from the package's `exports`: good code passes, wrong code is caught.
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  const tsconfig = {
    compilerOptions: {
      strict: true,
      noEmit: true,
      module: 'NodeNext',
      moduleResolution: 'NodeNext',
      target: 'ES2022',
      lib: ['ES2022', 'DOM'],
      types: [],
    },
  };
  writeFileSync(join(project, 'tsconfig.json'), JSON.stringify({ ...tsconfig, include: ['good.ts'] }));
  writeFileSync(
    join(project, 'good.ts'),
    `import { connect, PushFlowError, type PushNotification, type StateChange } from '@pushflow/client';
const client = connect({ url: 'wss://push.example.com', getToken: async () => 'token', backoff: { maxMs: 10_000 } });
client.addEventListener('notification', (e) => { const n: PushNotification = e.detail; client.ack(n.notificationId); });
client.addEventListener('state', (e) => { const s: StateChange = e.detail; console.log(s.state, s.retryInMs); });
client.addEventListener('error', (e) => { if (e.detail instanceof PushFlowError && e.detail.code === 'TOKEN_EXPIRED') client.close(); });
export async function titles(): Promise<string[]> { const out: string[] = []; for await (const n of client) out.push(n.title ?? ''); return out; }
`,
  );
  await run(process.execPath, [tsc, '-p', project], { cwd: project });
  writeFileSync(join(project, 'tsconfig.json'), JSON.stringify({ ...tsconfig, include: ['bad.ts'] }));
  writeFileSync(
    join(project, 'bad.ts'),
    `import { connect } from '@pushflow/client';
connect({ url: 'wss://push.example.com', token: 42 });
`,
  );
  const bad = await run(process.execPath, [tsc, '-p', project], { cwd: project }).then(
    () => 'compiled',
    (err: { stdout: string }) => err.stdout,
  );
  assert.match(bad, /bad\.ts\(2,42\): error TS2322: Type 'number' is not assignable to type 'string'/);
});
