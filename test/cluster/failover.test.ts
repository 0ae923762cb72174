import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { makeKeys } from '@pushflow/shared';
import type { Stack } from '../../local-stack/stack.ts';
import { CLUSTER_STACK_ENV, type ClusterNode, type RedisCluster } from '../../local-stack/redis-cluster.ts';
import { assertAllSettled, burst, burstRecipients, burstSize, connectClients, onlineRecipients, type Clients } from '../faults/support.ts';
import { startClusterStack } from './stack.ts';

/**
 * A master failover mid-burst: the master serving command partition 0's slot is SIGKILLed,
 * its replica takes over, then the same for another master holding an events partition. Every notification
 * answered 202 ends terminal, once, and nothing stays pending.
 */
let cluster: RedisCluster;
let stack: Stack;
let clients: Clients;

before(async () => {
  ({ stack, cluster } = await startClusterStack({ env: { PUSHFLOW_REPLY_TIMEOUT_MS: '3000' } }));
  clients = await connectClients(stack, onlineRecipients);
});

after(async () => {
  clients?.close();
  await stack?.stop();
  await cluster?.stop();
});

test('SIGKILL the masters of a commands and an events partition mid-burst: nothing acknowledged is lost', {
  timeout: 180_000,
}, async () => {
  const keys = makeKeys(stack.prefix, Number(CLUSTER_STACK_ENV.PUSHFLOW_PARTITIONS));
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
      await failover(await cluster.masterOf(keys.commands(0)));
      await new Promise((r) => setTimeout(r, 1000));
      // An events partition on another master than the one that just took over (that one
      // has no replica left to take over from it).
      const promoted = (await cluster.masterOf(keys.commands(0))).port;
      for (let p = 0; p < keys.partitions; p++) {
        const master = await cluster.masterOf(keys.events(p));
        if (master.port !== promoted) return failover(master);
      }
      throw new Error('every events partition is on the master that just took over');
    },
  });
  assert.equal(killed.length, 2, 'two masters were killed');
  const settled = await assertAllSettled(stack, result, 60_000);
  assert.ok((settled.byStatus.DELIVERED ?? 0) > 0, JSON.stringify(settled));
  assert.ok((settled.byStatus.FAILED ?? 0) > 0, JSON.stringify(settled));
  for (const s of stack.services)
    assert.equal(s.child.exitCode, null, `${s.name} survived the failover:\n${s.lines.slice(-15).join('\n')}`);
  process.stdout.write(
    `# killed masters on ports ${killed.join(', ')}; statuses ${JSON.stringify([...result.statuses])}; settled ${JSON.stringify(settled)}\n`,
  );
});
