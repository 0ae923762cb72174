import { startStack, type Stack, type StackOptions } from '../../local-stack/stack.ts';
import assert from 'node:assert/strict';
import { CLUSTER_STACK_ENV, redisCluster, type RedisCluster } from '../../local-stack/redis-cluster.ts';

/**
 * Two dispatchers and three delivery nodes on a fresh six-node cluster (three masters).
 * `prefixFor` may pick the key prefix once the cluster is up (e.g. to place keys).
 */
export async function startClusterStack(
  opts: StackOptions = {},
  prefixFor?: (cluster: RedisCluster) => Promise<string>,
): Promise<{ stack: Stack; cluster: RedisCluster }> {
  const cluster = await redisCluster();
  try {
    const stack = await startStack({
      dispatchers: 2,
      deliveryNodes: 3,
      ...opts,
      ...(prefixFor && { prefix: await prefixFor(cluster) }),
      redis: cluster,
      env: { ...CLUSTER_STACK_ENV, ...opts.env },
    });
    return { stack, cluster };
  } catch (err) {
    await cluster.stop();
    throw err;
  }
}

/** Keys whose slots three different masters serve. */
export async function keysOnThreeMasters(cluster: RedisCluster, prefix: string): Promise<string[]> {
  const byMaster = new Map<number, string>();
  for (let i = 0; byMaster.size < 3 && i < 1000; i++) {
    const key = `${prefix}k:{${i}}`;
    const master = await cluster.masterOf(key);
    if (!byMaster.has(master.port)) byMaster.set(master.port, key);
  }
  assert.equal(byMaster.size, 3, 'three masters hold keys');
  return [...byMaster.values()];
}
