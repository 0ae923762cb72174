import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { MongoClient } from 'mongodb';
import { pino } from 'pino';
import { mongoServer, type Server } from '../../local-stack/servers.ts';
import { uniqueMongoUrl } from '../../local-stack/isolation.ts';
import { restartClient, watchHeartbeats } from '../src/runtime/mongo-watchdog.ts';

const log = pino({ level: 'silent' });

describe('the MongoDB heartbeat watchdog', () => {
  function setup(restart: () => Promise<void>) {
    const client = new EventEmitter();
    let clock = 0;
    const dog = watchHeartbeats(client, { stallMs: 30_000, log, restart, now: () => clock, checkEveryMs: 3_600_000 });
    return {
      client,
      dog,
      advance: (ms: number) => {
        clock += ms;
      },
    };
  }

  test('restarts the client once a heartbeat went unanswered past stallMs, and only then', async () => {
    let restarts = 0;
    const { client, dog, advance } = setup(async () => {
      restarts++;
    });
    try {
      // Heartbeats that end, however they end, are a monitor at work.
      for (const outcome of ['serverHeartbeatSucceeded', 'serverHeartbeatFailed']) {
        client.emit('serverHeartbeatStarted', { connectionId: 'db:27017' });
        advance(20_000);
        client.emit(outcome, { connectionId: 'db:27017' });
        advance(20_000);
        await dog.check();
      }
      assert.equal(restarts, 0);

      client.emit('serverHeartbeatStarted', { connectionId: 'db:27017' });
      advance(29_000);
      await dog.check();
      assert.equal(restarts, 0, 'not yet past stallMs');
      advance(2_000);
      await dog.check();
      assert.equal(restarts, 1);
      // The stuck heartbeat is forgotten with the old topology.
      advance(60_000);
      await dog.check();
      assert.equal(restarts, 1);
    } finally {
      dog.stop();
    }
  });

  test('a restart that fails is tried again at the next check', async () => {
    let attempts = 0;
    const { client, dog, advance } = setup(async () => {
      attempts++;
      if (attempts === 1) throw new Error('server selection timed out');
    });
    try {
      client.emit('serverHeartbeatStarted', { connectionId: 'db:27017' });
      advance(31_000);
      await dog.check();
      await dog.check();
      assert.equal(attempts, 2);
      await dog.check();
      assert.equal(attempts, 2, 'restarted once it worked');
    } finally {
      dog.stop();
    }
  });
});

describe('restarting a MongoDB client', () => {
  let server: Server;
  before(async () => {
    server = await mongoServer();
  });
  after(async () => {
    await server?.stop();
  });

  test('collections taken before the restart keep working after it, with a new topology', async () => {
    const client = new MongoClient(uniqueMongoUrl(server.url), { serverSelectionTimeoutMS: 5000 });
    await client.connect();
    try {
      const col = client.db().collection<{ _id: string }>('watchdog');
      await col.insertOne({ _id: 'before' });
      let opened = 0;
      client.on('topologyOpening', () => opened++);
      const heartbeats: string[] = [];
      client.on('serverHeartbeatSucceeded', (e) => heartbeats.push(e.connectionId));
      await restartClient(client);
      assert.equal(opened, 1, 'a new topology, so new monitors');
      await col.insertOne({ _id: 'after' });
      assert.deepEqual(
        (await col.find().sort({ _id: 1 }).toArray()).map((d) => d._id),
        ['after', 'before'],
      );
      assert.ok(heartbeats.length > 0, 'the new monitor reports heartbeats to the same client');
    } finally {
      await client.close();
    }
  });
});
