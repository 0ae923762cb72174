import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { consumerGroups, createRedis, groups, makeKeys } from '@pushflow/shared';
import { startStack, type Stack } from '../../local-stack/stack.ts';
import { mongoServer, type Server } from '../../local-stack/servers.ts';
import { tcpProxy, type TcpProxy } from '../harness/proxy.ts';
import { assertAllSettled, burst, burstRecipients, connectClients, onlineRecipients, type Clients } from './support.ts';

/**
 * Fault test 5: MongoDB unreachable for 20 seconds mid-burst (a proxy the test cuts), then back.
 * Sends without an Idempotency-Key do not touch MongoDB: they go on being accepted and
 * delivered while the projector waits, and its backlog drains when MongoDB is back.
 */
let mongo: Server;
let proxy: TcpProxy;
let stack: Stack;
let clients: Clients;
const outageMs = Number(process.env.PUSHFLOW_FAULT_OUTAGE_MS ?? 20_000);

before(async () => {
  mongo = await mongoServer();
  proxy = await tcpProxy(mongo.url);
  stack = await startStack({
    mongo: { url: proxy.url, source: 'proxy', stop: async () => {} },
    env: { PUSHFLOW_REPLY_TIMEOUT_MS: '3000' },
  });
  clients = await connectClients(stack, onlineRecipients);
});

after(async () => {
  clients?.close();
  await stack?.stop();
  await proxy?.close();
  await mongo?.stop();
});

test(`MongoDB unreachable for ${outageMs / 1000} s mid-burst: sends go on, the projector waits, stays up and drains the backlog`, {
  timeout: 300_000,
}, async () => {
  const dispatcher = stack.service('dispatcher');
  const pid = dispatcher.child.pid!;
  let cpuDuringOutage = 0;
  let projectorBehind = 0;
  const result = await burst(stack, {
    recipients: burstRecipients,
    count: Math.min(5000, Number(process.env.PUSHFLOW_FAULT_BURST ?? 5000)),
    concurrency: 128,
    fault: async () => {
      await proxy.cut();
      const before = cpuSeconds(pid);
      await new Promise((r) => setTimeout(r, outageMs));
      cpuDuringOutage = cpuSeconds(pid) - before;
      projectorBehind = await projectorBacklog(stack);
      await proxy.restore();
    },
  });
  assert.deepEqual(
    [...result.statuses.keys()],
    [202],
    `every send was accepted through the outage: ${JSON.stringify([...result.statuses])}`,
  );
  assert.ok(projectorBehind > 0, 'the projector had a backlog when MongoDB came back');
  const settled = await assertAllSettled(stack, result);
  assert.ok((settled.byStatus.DELIVERED ?? 0) > 0, JSON.stringify(settled));
  assert.equal(dispatcher.child.exitCode, null, 'the dispatcher did not crash');
  // Backing off, not spinning: well under one core for the whole outage.
  assert.ok(cpuDuringOutage < (outageMs / 1000) * 0.5, `dispatcher used ${cpuDuringOutage.toFixed(1)} CPU seconds during the outage`);
});

/** Ledger entries the projector has not acked yet, over every events partition: read but pending, or not read. */
async function projectorBacklog(s: Stack): Promise<number> {
  const redis = createRedis(s.redisUrl, 'test-backlog');
  const keys = makeKeys(s.prefix, Number(s.service('dispatcher').env.PUSHFLOW_PARTITIONS ?? 1));
  try {
    let backlog = 0;
    for (const stream of keys.allEvents) {
      const group = ((await consumerGroups(redis, stream)) ?? []).find((g) => g.name === groups.projector);
      backlog += (group?.pending ?? 0) + (group?.lag ?? 0);
    }
    return backlog;
  } finally {
    redis.disconnect();
  }
}

function cpuSeconds(pid: number): number {
  try {
    const fields = readStat(pid);
    return (Number(fields[13]) + Number(fields[14])) / 100; // utime + stime, in clock ticks
  } catch {
    return 0; // not Linux: the CPU check passes vacuously
  }
}

function readStat(pid: number): string[] {
  // After the command name (which may hold spaces) come the numeric fields.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return ['', '', ...stat.slice(stat.lastIndexOf(')') + 2).split(' ')];
}
