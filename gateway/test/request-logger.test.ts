import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { pino } from 'pino';
import { lazyRequestLogger } from '../src/request-logger.ts';

function capture(level: string) {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      lines.push(JSON.parse(String(chunk)));
      done();
    },
  });
  const logger = pino({ level }, stream);
  let children = 0;
  // Counts the children built from it; the rest is the real logger's.
  const parent = Object.assign(Object.create(logger) as typeof logger, {
    child: (...args: Parameters<typeof logger.child>) => {
      children++;
      return logger.child(...args);
    },
  });
  return { parent, lines, children: () => children };
}

test('a request that logs nothing at an enabled level never builds its child logger', () => {
  const { parent, lines, children } = capture('info');
  const log = lazyRequestLogger(parent, { reqId: 'req-1' }, {});
  log.debug({ a: 1 }, 'quiet');
  log.trace('quieter');
  assert.equal(children(), 0);
  assert.equal(lines.length, 0);
  assert.equal(log.level, 'info');
});

test('the first line at an enabled level builds it once, with the request id on every line', async () => {
  const { parent, lines, children } = capture('info');
  const log = lazyRequestLogger(parent, { reqId: 'req-2' }, {});
  log.info({ notificationId: 'n1' }, 'accepted');
  log.error(new Error('boom'), 'failed');
  log.warn('careful');
  await new Promise((r) => setImmediate(r));
  assert.equal(children(), 1);
  assert.deepEqual(
    lines.map((l) => [l.reqId, l.msg]),
    [
      ['req-2', 'accepted'],
      ['req-2', 'failed'],
      ['req-2', 'careful'],
    ],
  );
  assert.equal(lines[0]!.notificationId, 'n1');
  // A child of it carries both bindings.
  log.child({ part: 'x' }).info('nested');
  await new Promise((r) => setImmediate(r));
  assert.deepEqual([lines[3]!.reqId, lines[3]!.part], ['req-2', 'x']);
});
