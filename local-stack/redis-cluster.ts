import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { keySlot } from '@pushflow/shared';
import { findBinary, freePort, MissingBinary, waitForPort, type Server } from './servers.ts';

/**
 * A real Redis Cluster on loopback for tests: six Debian redis-server processes (three
 * masters, three replicas) in a temporary folder, created with `redis-cli --cluster create`.
 * cluster-node-timeout is short (2 s) so a killed master's replica takes over within a few
 * seconds. `url` is the `redis-cluster://` seed list the services take as REDIS_URL.
 */
export interface ClusterNode {
  port: number;
  /** Alive until kill()ed. */
  readonly alive: boolean;
}

export interface RedisCluster extends Server {
  nodes: ClusterNode[];
  /** The node that is master of the key's slot now (asks a live node). */
  masterOf(key: string): Promise<ClusterNode>;
  /** SIGKILL, as a crash: no shutdown, no failover handed over. */
  kill(node: ClusterNode): Promise<void>;
  /**
   * Resolves once a live master serves every slot and every live node says cluster_state:ok;
   * with `replicated`, once every master also has a replica online.
   */
  waitHealthy(timeoutMs?: number, opts?: { replicated?: boolean }): Promise<void>;
}

const run = promisify(execFile);

/** The stack settings every test on a Redis Cluster runs with: the scale profile's 8 partitions. */
export const CLUSTER_STACK_ENV: Record<string, string> = { PUSHFLOW_PARTITIONS: '8' };

/** PUSHFLOW_TEST_REDIS_CLUSTER=1: stacks that bring their own Redis start a cluster instead (stack.ts). */
export const clusterRequested = (): boolean => ['1', 'true', 'yes'].includes(process.env.PUSHFLOW_TEST_REDIS_CLUSTER ?? '');

/** A key that hashes to this slot (for priming each master with a write). */
function keyInSlot(slot: number): string {
  for (let i = 0; ; i++) if (keySlot(`pushflow-harness:${i}`) === slot) return `pushflow-harness:${i}`;
}
export const CLUSTER_NODE_TIMEOUT_MS = 2000;

export async function redisCluster(opts: { size?: number; replicas?: number } = {}): Promise<RedisCluster> {
  const server = findBinary('redis-server');
  const cli = findBinary('redis-cli');
  if (!server || !cli)
    throw new MissingBinary('redis-server', 'apt-get install redis-server (Debian/Ubuntu) for redis-server and redis-cli');
  const size = opts.size ?? 6;
  const dir = mkdtempSync(join(tmpdir(), 'pushflow-redis-cluster-'));
  const procs = new Map<number, ChildProcess>();
  const nodes: (ClusterNode & { alive: boolean })[] = [];
  const stopAll = async () => {
    await Promise.all(
      [...procs.values()].map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve();
            child.once('exit', () => resolve());
            child.kill('SIGKILL');
          }),
      ),
    );
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', () => {
    for (const c of procs.values()) c.kill('SIGKILL');
  });
  try {
    for (let i = 0; i < size; i++) {
      // A port freePort() found is free again until the node started on it binds it, so the
      // next call may find it too (it did, in a CI run): each node gets one of its own.
      let port = await freePort();
      while (procs.has(port)) port = await freePort();
      const nodeDir = join(dir, String(port));
      mkdirSync(nodeDir);
      const log = openSync(join(nodeDir, 'redis.log'), 'a');
      const child = spawn(
        server,
        [
          '--port',
          String(port),
          '--bind',
          '127.0.0.1',
          '--dir',
          nodeDir,
          '--cluster-enabled',
          'yes',
          '--cluster-config-file',
          'nodes.conf',
          '--cluster-node-timeout',
          String(CLUSTER_NODE_TIMEOUT_MS),
          // A replica that lost touch for a while still takes over: the test kills on purpose.
          '--cluster-replica-validity-factor',
          '0',
          '--appendonly',
          'yes',
          '--save',
          '',
        ],
        { stdio: ['ignore', log, log] },
      );
      procs.set(port, child);
      const node = { port, alive: true };
      child.once('exit', () => {
        node.alive = false;
      });
      nodes.push(node);
    }
    await Promise.all(nodes.map((n) => waitForPort(n.port, 10_000)));
    await run(
      cli,
      [
        '--cluster',
        'create',
        ...nodes.map((n) => `127.0.0.1:${n.port}`),
        '--cluster-replicas',
        String(opts.replicas ?? 1),
        '--cluster-yes',
      ],
      { timeout: 60_000 },
    );
  } catch (err) {
    await stopAll();
    throw err;
  }

  const ask = async <T>(port: number, work: (r: Redis) => Promise<T>): Promise<T> => {
    const r = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    r.on('error', () => {});
    try {
      await r.connect();
      return await work(r);
    } finally {
      r.disconnect();
    }
  };
  /** [start, end, masterPort, replicas] for every slot range, as a live node sees them. */
  const slotMap = async (): Promise<[number, number, number, number][]> => {
    for (const n of nodes.filter((x) => x.alive)) {
      try {
        const slots = (await ask(n.port, (r) => r.call('CLUSTER', 'SLOTS'))) as [number, number, [string, number], ...unknown[]][];
        return slots.map(([start, end, master, ...replicas]) => [start, end, Number(master[1]), replicas.length]);
      } catch {
        // Try the next node.
      }
    }
    throw new Error('no live cluster node answers CLUSTER SLOTS');
  };

  const cluster: RedisCluster = {
    url: `redis-cluster://${nodes.map((n) => `127.0.0.1:${n.port}`).join(',')}`,
    source: `${server} (cluster of ${size})`,
    nodes,
    async masterOf(key) {
      const slot = keySlot(key);
      const range = (await slotMap()).find(([start, end]) => slot >= start && slot <= end);
      const node = range && nodes.find((n) => n.port === range[2]);
      if (!node) throw new Error(`no master serves slot ${slot} of ${key}`);
      return node;
    },
    async kill(node) {
      const child = procs.get(node.port)!;
      if (!node.alive) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
    },
    async waitHealthy(timeoutMs = 30_000, { replicated = false } = {}) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const healthy = await (async () => {
          const live = nodes.filter((n) => n.alive);
          const infos = await Promise.all(live.map((n) => ask(n.port, (r) => r.call('CLUSTER', 'INFO')).catch(() => '')));
          if (!infos.every((info) => /cluster_state:ok/.test(String(info)))) return false;
          const ranges = await slotMap();
          const covered = ranges.reduce((sum, [start, end]) => sum + end - start + 1, 0);
          if (covered !== 16384 || !ranges.every(([, , port]) => live.some((n) => n.port === port))) return false;
          // CLUSTER SLOTS (which clients read) lists a replica only once it has replicated
          // something: a write to every master gets them listed.
          if (!replicated) return true;
          await Promise.all(ranges.map(([start, , port]) => ask(port, (r) => r.set(keyInSlot(start), '1'))));
          return ranges.every(([, , , replicas]) => replicas > 0);
        })().catch(() => false);
        if (healthy) return;
        if (Date.now() > deadline) throw new Error(`redis cluster not healthy after ${timeoutMs} ms (logs in ${dir})`);
        await new Promise((r) => setTimeout(r, 200));
      }
    },
    stop: stopAll,
  };
  try {
    // Replicas attach and sync a moment after `--cluster create`: a test starts on a cluster
    // whose every master has one, so a failover has somewhere to go.
    await cluster.waitHealthy(30_000, { replicated: true });
  } catch (err) {
    await stopAll();
    throw err;
  }
  return cluster;
}
