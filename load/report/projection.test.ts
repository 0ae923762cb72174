import { test } from 'node:test';
import assert from 'node:assert/strict';
import { projectionFigures } from './projection.ts';

const windowStart = 1_000_000;
const windowEnd = windowStart + 10_000;

test("the projector's sustained rate is the backlog the window left over the time it took to work off", () => {
  assert.deepEqual(
    projectionFigures({
      accepted: 100_000,
      deliveredAtWindowEnd: 40_000,
      windowStart,
      countedAt: windowEnd,
      completeAt: windowEnd + 20_000,
    }),
    {
      deliveredAtWindowEnd: 40_000,
      backlogAtWindowEnd: 60_000,
      catchUpMs: 20_000,
      sustainedDocumentsPerSecond: 3000,
      overallDocumentsPerSecond: 3333.3,
    },
  );
});

test('no sustained rate when the projector kept up, or when it never caught up', () => {
  const keptUp = projectionFigures({
    accepted: 500,
    deliveredAtWindowEnd: 480,
    windowStart,
    countedAt: windowEnd,
    completeAt: windowEnd + 600,
  });
  assert.deepEqual([keptUp.backlogAtWindowEnd, keptUp.catchUpMs, keptUp.sustainedDocumentsPerSecond], [20, 600, null]);
  const late = projectionFigures({ accepted: 500, deliveredAtWindowEnd: 10, windowStart, countedAt: windowEnd, completeAt: null });
  assert.deepEqual([late.catchUpMs, late.sustainedDocumentsPerSecond, late.overallDocumentsPerSecond], [null, null, null]);
});
