import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { keys as makeKeys } from '@pushflow/shared';
import { uniquePrefix } from '../harness/isolation.ts';
import type { Stack } from '../harness/stack.ts';
import type { ClusterNode, RedisCluster } from '../harness/redis-cluster.ts';
import { assertAllSettled, burst, burstRecipients, burstSize, connectClients, onlineRecipients, type Clients } from '../faults/support.ts';
import { startClusterStack } from './stack.ts';

/**
 * A master failover mid-burst: the master serving the commands stream's slot is SIGKILLed,
 * its replica takes over, then the same for the events stream's master. Every notification
 * answered 202 ends terminal, once, and nothing stays pending.
 */
let cluster: RedisCluster;
let stack: Stack;
let clients: Clients;

before(async () => {
  // A prefix that puts the commands and events streams on two masters, so two failovers happen.
  ({ stack, cluster } = await startClusterStack({ env: { PUSHFLOW_REPLY_TIMEOUT_MS: '3000' } }, async (c) => {
    for (;;) {
      const keys = makeKeys(uniquePrefix());
      if ((await c.masterOf(keys.commands)).port !== (await c.masterOf(keys.events)).port) return keys.commands.slice(0, -'commands'.length);
    }
  }));
  clients = await connectClients(stack, onlineRecipients);
});

after(async () => {
  clients?.close();
  await stack?.stop();
  await cluster?.stop();
});

test('SIGKILL the masters of the commands and events streams mid-burst: nothing acknowledged is lost', { timeout: 180_000 }, async () => {
  const keys = makeKeys(stack.prefix);
  const killed: number[] = [];
  const failover = async (node: ClusterNode) => {
    killed.push(node.port);
    await cluster.kill(node);
    await cluster.waitHealthy(30_000);
  };
  const result = await burst(stack, {
    count: Math.min(burstSize, 4000),
    recipients: burstRecipients,
    fault: async () => {
      await failover(await cluster.masterOf(keys.commands));
      await new Promise((r) => setTimeout(r, 1000));
      await failover(await cluster.masterOf(keys.events));
    },
  });
  assert.equal(killed.length, 2, 'two masters were killed');
  const settled = await assertAllSettled(stack, result, 60_000);
  assert.ok((settled.byStatus.DELIVERED ?? 0) > 0, JSON.stringify(settled));
  assert.ok((settled.byStatus.FAILED ?? 0) > 0, JSON.stringify(settled));
  for (const s of stack.services) assert.equal(s.child.exitCode, null, `${s.name} survived the failover:\n${s.lines.slice(-15).join("\n")}`);
  process.stdout.write(`# killed masters on ports ${killed.join(', ')}; statuses ${JSON.stringify([...result.statuses])}; settled ${JSON.stringify(settled)}\n`);
});
