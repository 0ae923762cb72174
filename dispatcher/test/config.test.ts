import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MongoClient } from 'mongodb';
import { loadDispatcherConfig } from '../src/config.ts';
import { mongoClientOptions } from '../src/runtime/mongo-client.ts';

test("command records must outlive a crashed dispatcher's pending commands", () => {
  const config = loadDispatcherConfig({});
  assert.equal(config.PUSHFLOW_COMMAND_MEMORY_SECONDS, 600);
  assert.equal(config.PUSHFLOW_PROJECTOR_BATCH_SIZE, 2000);
  assert.equal(config.PUSHFLOW_PROJECTOR_LINGER_MS, 25);
  assert.equal(
    loadDispatcherConfig({ PUSHFLOW_CLAIM_IDLE_MS: '2000', PUSHFLOW_COMMAND_MEMORY_SECONDS: '20' }).PUSHFLOW_COMMAND_MEMORY_SECONDS,
    20,
  );
  assert.throws(
    () => loadDispatcherConfig({ PUSHFLOW_CLAIM_IDLE_MS: '60000', PUSHFLOW_COMMAND_MEMORY_SECONDS: '120' }),
    /PUSHFLOW_COMMAND_MEMORY_SECONDS.*at least 10 times PUSHFLOW_CLAIM_IDLE_MS \(600 s\), got 120/,
  );
});

test('a node is reaped only after it stopped being routed to', () => {
  assert.throws(() => loadDispatcherConfig({ PUSHFLOW_NODE_TTL_MS: '5000', PUSHFLOW_NODE_LOST_MS: '5000' }), /PUSHFLOW_NODE_LOST_MS/);
});

test('write concern: majority by default, a number of members, nothing else', () => {
  assert.equal(loadDispatcherConfig({}).PUSHFLOW_MONGO_WRITE_CONCERN, 'majority');
  assert.equal(loadDispatcherConfig({ PUSHFLOW_MONGO_WRITE_CONCERN: '2' }).PUSHFLOW_MONGO_WRITE_CONCERN, '2');
  // 0 is an unacknowledged write: a notification could be answered ACCEPTED and never stored.
  for (const bad of ['0', 'all', '-1', '1.5', 'Majority']) {
    assert.throws(
      () => loadDispatcherConfig({ PUSHFLOW_MONGO_WRITE_CONCERN: bad }),
      (err: Error) => err.message.startsWith('PUSHFLOW_MONGO_WRITE_CONCERN') && err.message.includes(JSON.stringify(bad)),
      bad,
    );
  }
});

test('write concern: a w= in MONGO_URL must agree with PUSHFLOW_MONGO_WRITE_CONCERN', () => {
  // Atlas hands out connection strings with w=majority: that agrees with the default.
  const atlas = 'mongodb+srv://u:p@cluster0.example.mongodb.net/pushflow?retryWrites=true&w=majority';
  assert.equal(loadDispatcherConfig({ MONGO_URL: atlas }).PUSHFLOW_MONGO_WRITE_CONCERN, 'majority');
  assert.equal(
    loadDispatcherConfig({ MONGO_URL: 'mongodb://h/pushflow?w=1', PUSHFLOW_MONGO_WRITE_CONCERN: '1' }).PUSHFLOW_MONGO_WRITE_CONCERN,
    '1',
  );
  assert.throws(
    () => loadDispatcherConfig({ MONGO_URL: 'mongodb://h/pushflow?journal=true&w=1' }),
    /^ConfigError: PUSHFLOW_MONGO_WRITE_CONCERN: is majority but MONGO_URL asks for w=1/,
  );
});

test("the MongoClient gets the write concern, keeping the connection string's journal option", () => {
  const options = (url: string, w: string) => {
    const wc = new MongoClient(url, mongoClientOptions({ PUSHFLOW_MONGO_WRITE_CONCERN: w })).options.writeConcern;
    return { w: wc?.w, journal: wc?.journal, wtimeoutMS: wc?.wtimeoutMS };
  };
  assert.deepEqual(options('mongodb://h/pushflow', 'majority'), { w: 'majority', journal: undefined, wtimeoutMS: undefined });
  assert.deepEqual(options('mongodb://h/pushflow?journal=true&wtimeoutMS=5000', '2'), { w: 2, journal: true, wtimeoutMS: 5000 });
});

test('replica-set and sharded-cluster connection strings pass validation, in production too', () => {
  const urls = [
    'mongodb://a.example:27017,b.example:27017,c.example:27017/pushflow?replicaSet=rs0',
    'mongodb://pushflow:0123456789abcdef@a.example:27017,b.example:27017/pushflow?replicaSet=rs0&authSource=admin&readPreference=primary',
    'mongodb+srv://pushflow:0123456789abcdef@cluster0.example.mongodb.net/pushflow?retryWrites=true',
    // A sharded cluster: the application connects to its mongos routers.
    'mongodb://mongos-1.example:27017,mongos-2.example:27017/pushflow',
  ];
  for (const MONGO_URL of urls) {
    assert.equal(loadDispatcherConfig({ MONGO_URL }).MONGO_URL, MONGO_URL);
    const production = { MONGO_URL, PUSHFLOW_ENV: 'production', REDIS_URL: 'redis://:0123456789abcdef@r:6379' };
    assert.equal(loadDispatcherConfig(production).MONGO_URL, MONGO_URL);
  }
  assert.throws(() => loadDispatcherConfig({ MONGO_URL: 'postgres://h/pushflow' }), /^ConfigError: MONGO_URL:/);
});
