import { after } from 'node:test';
import { endToEnd } from '../e2e-suite.ts';
import type { RedisCluster } from '../../local-stack/redis-cluster.ts';
import { startClusterStack } from './stack.ts';

/** The end-to-end suite on a Redis Cluster, with two dispatchers and three delivery nodes. */
let cluster: RedisCluster | undefined;
endToEnd(async () => {
  const started = await startClusterStack();
  cluster = started.cluster;
  return started.stack;
});
// Registered after the suite's own `after`, so the services stop before their Redis does.
after(async () => {
  await cluster?.stop();
});
