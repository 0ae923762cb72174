import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../local-stack/servers.ts';
import { runCli } from './run-cli.ts';

/** What needs no running PushFlow: help, usage errors, an unreachable gateway, --local tokens. */

test('pushflow --help lists every command and the exit codes, exit 0', async () => {
  const r = await runCli(['--help']);
  assert.equal(r.code, 0, r.stderr);
  for (const c of ['send', 'status', 'watch', 'listen', 'token', 'replay', 'bench']) assert.match(r.stdout, new RegExp(`^  ${c} `, 'm'));
  for (const code of [0, 1, 2, 3, 4, 5]) assert.match(r.stdout, new RegExp(`^  ${code}  `, 'm'));
});

for (const command of ['send', 'status', 'watch', 'listen', 'token', 'replay', 'bench']) {
  test(`pushflow ${command} --help exits 0 and shows its usage`, async () => {
    const r = await runCli([command, '--help']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^Usage: pushflow ${command}`));
  });
}

test("replay --help shows the replay script's own options too", async () => {
  const r = await runCli(['replay', '--help']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /--collection NAME/);
  assert.match(r.stdout, /--compare/);
});

test('an unknown command, a missing argument, an unknown option and a bad value exit 1 with USAGE on stderr', async () => {
  for (const args of [
    ['nope'],
    [],
    ['send'],
    ['send', 'alice', '--colour'],
    ['send', 'alice', '--data', '[1]'],
    ['status', 'x', '--wait', 'SOON'],
    ['status', 'x', '--timeout', '3'],
    ['token', 'alice', '--ttl', '-5'],
    ['watch', '--from', 'yesterday'],
    ['listen'],
    ['listen', '--token', 'x', '--timeout', '3'],
    ['listen', '--token', 'x', '--count', '0'],
    ['listen', '--token', 'x', '--url', 'ftp://localhost:8080'],
  ]) {
    const r = await runCli(args);
    assert.equal(r.code, 1, `pushflow ${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stdout, '', `pushflow ${args.join(' ')} printed on stdout`);
    if (args.length > 0) assert.match(r.stderr, /error USAGE: /, `pushflow ${args.join(' ')}`);
  }
});

test('send --batch: a file that cannot be read, is empty or holds a line that is not a JSON object, or a misplaced option, exits 1 before sending', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pushflow-cli-'));
  const file = (name: string, text: string) => {
    writeFileSync(join(dir, name), text);
    return join(dir, name);
  };
  const good = file('good.jsonl', '{"recipientId":"a"}\n');
  // Nothing listens there: a usage error must come before any request.
  const env = { PUSHFLOW_URL: `http://127.0.0.1:${await freePort()}`, PUSHFLOW_API_KEY: 'some-key-0123456789' };
  const cases: [string[], RegExp][] = [
    [['send', '--batch', join(dir, 'missing.jsonl')], /cannot read --batch .*ENOENT/],
    [['send', '--batch', file('empty.jsonl', '\n\n')], /holds no notification/],
    [['send', '--batch', file('bad.jsonl', '{"recipientId":"a"}\n\n{"recipientId":\n')], /line 3 is not JSON/],
    [['send', '--batch', file('array.jsonl', '[{"recipientId":"a"}]\n')], /line 1 must be a JSON object/],
    [['send', '--batch', good, '--title', 'x'], /--title goes with <recipientId>/],
    [['send', '--batch', good, 'alice'], /unexpected argument "alice"/],
    [['send', 'alice', '--batch-size', '3'], /--batch-size goes with --batch/],
    [['send', '--batch', good, '--batch-size', '0'], /--batch-size must be a whole number from 1 to 10000/],
    [['send', '--batch', good, '--batch-size', '10001'], /--batch-size/],
  ];
  try {
    for (const [args, message] of cases) {
      const r = await runCli(args, env);
      assert.equal(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stdout, '');
      assert.match(r.stderr, message, args.join(' '));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('without an API key a remote gateway is a usage error; a local one gets the development key with a warning', async () => {
  const remote = await runCli(['send', 'alice', '--url', 'https://push.example.com']);
  assert.equal(remote.code, 1);
  assert.match(remote.stderr, /no API key for https:\/\/push\.example\.com/);
  const port = await freePort();
  const local = await runCli(['send', 'alice', '--url', `http://127.0.0.1:${port}`]);
  assert.match(local.stderr, /warning: no API key given .* development key/);
});

test('an unreachable gateway exits 3 with UNREACHABLE, as JSON on stderr with --json', async () => {
  const port = await freePort();
  for (const args of [
    ['send', 'alice'],
    ['status', '01a20e56-4ecb-7a8c-abe7-9fc5bd404945'],
    ['token', 'alice'],
  ]) {
    const r = await runCli([...args, '--json'], { PUSHFLOW_URL: `http://127.0.0.1:${port}`, PUSHFLOW_API_KEY: 'some-key-0123456789' });
    assert.equal(r.code, 3, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stdout, '');
    const { error } = JSON.parse(r.stderr);
    assert.equal(error.code, 'UNREACHABLE');
    assert.equal(error.exitCode, 3);
    assert.match(error.message, /ECONNREFUSED/);
  }
});

test('watch with Redis unreachable exits 3 with REDIS_UNREACHABLE', async () => {
  const port = await freePort();
  const r = await runCli(['watch', '--redis', `redis://:secret-password@127.0.0.1:${port}`]);
  assert.equal(r.code, 3, r.stderr);
  assert.match(r.stderr, /error REDIS_UNREACHABLE: /);
  assert.doesNotMatch(r.stderr, /secret-password/, 'the Redis password is not printed');
});

test('token --local needs a connect secret of 32 bytes or more', async () => {
  assert.equal((await runCli(['token', 'alice', '--local'])).code, 1);
  assert.equal((await runCli(['token', 'alice', '--local'], { PUSHFLOW_CONNECT_SECRET: 'short' })).code, 1);
  const r = await runCli(['token', 'alice', '--local', '--ttl', '60', '--json'], { PUSHFLOW_CONNECT_SECRET: 'x'.repeat(32) });
  assert.equal(r.code, 0, r.stderr);
  const { token, expiresAt } = JSON.parse(r.stdout);
  const claims = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString());
  assert.equal(claims.sub, 'alice');
  assert.equal(claims.exp - claims.iat, 60);
  assert.equal(Date.parse(expiresAt), claims.exp * 1000);
});
