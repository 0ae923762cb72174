import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { newOutcome, outcomeEvent, type Outcome } from '../src/outcomes.ts';
import { emptyFrames, handOver, holdsFrames, takeDrained, takeHeld, wireBytes } from '../src/socket-frames.ts';

const request = (n: number) => ({
  notificationId: `0190a0b0-0000-7000-8000-00000000000${n}`,
  recipientId: 'u',
  acceptedAt: new Date(0).toISOString(),
});
const outcome = (n: number): Outcome => newOutcome(request(n), `1-${n}`, true);

describe('socket frames: what a socket still holds', () => {
  it('sizes server frames as RFC 6455 does: 2, 4 or 10 header bytes, no mask', () => {
    assert.equal(wireBytes(0), 2);
    assert.equal(wireBytes(125), 127);
    assert.equal(wireBytes(126), 130);
    assert.equal(wireBytes(65_535), 65_539);
    assert.equal(wireBytes(65_536), 65_546);
  });

  it('counts a frame drained only once every byte up to its end left the buffer', () => {
    const frames = emptyFrames();
    const [a, b, c] = [outcome(1), outcome(2), outcome(3)];
    handOver(frames, 100, a); // ends at 102
    handOver(frames, 200, b); // ends at 304
    handOver(frames, 300, c); // ends at 606
    assert.equal(a.waiting + b.waiting + c.waiting, 3);
    // 606 handed over, 305 still buffered: 301 left, so only the first frame is out.
    assert.deepEqual(takeDrained(frames, 305), [a]);
    assert.deepEqual(takeDrained(frames, 302), [b]);
    assert.deepEqual(takeDrained(frames, 302), []);
    assert.equal(holdsFrames(frames), true);
    // Bytes uWS added (a pong) make the buffer look fuller: never drained early.
    assert.deepEqual(takeDrained(frames, 1), []);
    assert.deepEqual(takeDrained(frames, 0), [c]);
    assert.equal(holdsFrames(frames), false);
  });

  it('hands back every held frame when the socket goes', () => {
    const frames = emptyFrames();
    const held = [outcome(1), outcome(2)];
    for (const o of held) handOver(frames, 10, o);
    assert.deepEqual(takeHeld(frames), held);
    assert.equal(holdsFrames(frames), false);
    assert.deepEqual(takeDrained(frames, 0), []);
  });

  it('keeps its queue short over a long life', () => {
    const frames = emptyFrames();
    for (let i = 0; i < 5000; i++) {
      handOver(frames, 10, outcome(1));
      takeDrained(frames, i % 2 === 0 ? 12 : 0);
    }
    assert.ok(frames.held.length < 2100, `queue grew to ${frames.held.length}`);
  });
});

describe('outcomes: the event a settled outcome becomes', () => {
  it('is delivered if any socket took the frame, else names the most telling reason', () => {
    const o = outcome(1);
    o.sentTo = 1;
    o.lost = 1;
    assert.equal(outcomeEvent(o, 5, 'n').type, 'notification.delivered');
    const lost = outcome(2);
    lost.lost = 1;
    assert.equal((outcomeEvent(lost, 5, 'n') as { reason: string }).reason, 'CONNECTION_LOST');
    assert.equal((outcomeEvent(outcome(3), 5, 'n') as { reason: string }).reason, 'BACKPRESSURE');
    assert.equal((outcomeEvent(newOutcome(request(4), '1-4', false), 5, 'n') as { reason: string }).reason, 'RECIPIENT_OFFLINE');
  });
});
