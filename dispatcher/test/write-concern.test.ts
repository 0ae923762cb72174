import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { MongoClient } from 'mongodb';
import { uuidv7 } from '@pushflow/shared';
import { mongoServer, type Server } from '../../local-stack/servers.ts';
import { uniqueMongoUrl } from '../../local-stack/isolation.ts';
import { loadDispatcherConfig } from '../src/config.ts';
import { mongoClientOptions } from '../src/runtime/mongo-client.ts';
import { findByIds, insertAccepted, openNotifications } from '../src/projection/store.ts';

let server: Server;
before(async () => {
  server = await mongoServer();
});
after(async () => {
  await server.stop();
});

// The client main.ts builds, from the default configuration: every write asks for
// w: 'majority', which a standalone server (and the FerretDB stand-in) acknowledges as w: 1.
test('with the default write concern (majority) the dispatcher stores and reads a notification', async () => {
  const config = loadDispatcherConfig({ MONGO_URL: uniqueMongoUrl(server.url) });
  const mongo = new MongoClient(config.MONGO_URL, { ...mongoClientOptions(config), monitorCommands: true });
  const sent: unknown[] = [];
  mongo.on('commandStarted', (e) => {
    if (e.commandName === 'insert') sent.push({ [e.command.insert]: e.command.writeConcern });
  });
  try {
    await mongo.connect();
    const notifications = await openNotifications(mongo.db());
    assert.equal(notifications.writeConcern?.w, 'majority');
    assert.equal(notifications.commands.writeConcern?.w, 'majority');
    const id = uuidv7();
    const now = Date.now();
    const doc = {
      _id: id,
      commandId: `cmd-${id}`,
      recipientId: 'alice',
      title: 'Hi',
      acceptedAt: now,
      updatedAt: now,
      status: 'ACCEPTED' as const,
      outcomes: [],
    };
    assert.equal((await insertAccepted(notifications, [doc])).size, 0, 'a new command, not a duplicate');
    const stored = (await findByIds(notifications, [id])).get(id);
    assert.equal(stored?.recipientId, 'alice');
    assert.equal(stored?.status, 'ACCEPTED');
    assert.deepEqual(
      sent,
      [{ commands: { w: 'majority' } }, { notifications: { w: 'majority' } }],
      'the claim and the insert carried the write concern to the server',
    );
  } finally {
    await mongo.close();
  }
});
