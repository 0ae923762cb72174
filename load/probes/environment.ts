import { cpus, release, totalmem } from 'node:os';
import { Redis } from 'ioredis';
import { MongoClient } from 'mongodb';

/** What the numbers were measured on: the machine, Node, and the servers' versions. */
export function machineInfo() {
  const list = cpus();
  return {
    cpus: list.length,
    cpuModel: list[0]?.model ?? null,
    totalMemoryMB: Math.round(totalmem() / 2 ** 20),
    node: process.version,
    platform: process.platform,
    arch: process.arch,
    osRelease: release(),
  };
}

export interface ServerVersions {
  redis: string | null;
  mongo: { version: string; ferretdbVersion?: string } | null;
}

export async function serverVersions(redisUrl?: string, mongoUrl?: string): Promise<ServerVersions> {
  const [redis, mongo] = await Promise.all([redisVersion(redisUrl), mongoVersion(mongoUrl)]);
  return { redis, mongo };
}

async function redisVersion(url?: string): Promise<string | null> {
  if (!url) return null;
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, connectTimeout: 5000 });
  try {
    await redis.connect();
    return /^redis_version:(.+)$/m.exec(await redis.info('server'))?.[1]?.trim() ?? null;
  } catch {
    return null;
  } finally {
    redis.disconnect();
  }
}

async function mongoVersion(url?: string): Promise<ServerVersions['mongo']> {
  if (!url) return null;
  const client = new MongoClient(url, { serverSelectionTimeoutMS: 5000 });
  try {
    const info = await client.db().admin().command({ buildInfo: 1 });
    return { version: String(info.version), ...(info.ferretdbVersion && { ferretdbVersion: String(info.ferretdbVersion) }) };
  } catch {
    return null;
  } finally {
    await client.close();
  }
}
