import type { Outcome } from './outcomes.ts';

/**
 * The frames a socket was handed and may still hold, oldest first. uWS tells only how many
 * bytes a socket buffers, so each frame keeps where it ends in the socket's byte stream: a
 * frame has left for the kernel once the bytes handed over minus the bytes buffered reach
 * its end. Bytes uWS adds on its own (pings, pongs) only make that look later than it is,
 * never earlier, so a frame is never counted as drained before it did.
 */
export interface SocketFrames {
  /** Wire bytes of every notification frame handed to uWS on this socket. */
  handedBytes: number;
  held: HeldFrame[];
  /** Index of the oldest frame still held: the queue is trimmed in chunks, not shifted. */
  head: number;
}

interface HeldFrame {
  end: number;
  outcome: Outcome;
}

export function emptyFrames(): SocketFrames {
  return { handedBytes: 0, held: [], head: 0 };
}

/** A server frame's size on the wire: RFC 6455's 2, 4 or 10 header bytes, no mask. */
export function wireBytes(payloadBytes: number): number {
  return payloadBytes + (payloadBytes < 126 ? 2 : payloadBytes < 65_536 ? 4 : 10);
}

export function handOver(frames: SocketFrames, payloadBytes: number, outcome: Outcome): void {
  frames.handedBytes += wireBytes(payloadBytes);
  frames.held.push({ end: frames.handedBytes, outcome });
  outcome.waiting++;
}

/** Takes the frames that left, given what the socket buffers now; returns their outcomes. */
export function takeDrained(frames: SocketFrames, bufferedBytes: number): Outcome[] {
  const left = frames.handedBytes - bufferedBytes;
  const drained: Outcome[] = [];
  let i = frames.head;
  while (i < frames.held.length && frames.held[i]!.end <= left) drained.push(frames.held[i++]!.outcome);
  trimTo(frames, i);
  return drained;
}

/** Takes every frame still held: the socket is gone and they with it. */
export function takeHeld(frames: SocketFrames): Outcome[] {
  const held = frames.held.slice(frames.head).map((f) => f.outcome);
  trimTo(frames, frames.held.length);
  return held;
}

export function holdsFrames(frames: SocketFrames): boolean {
  return frames.head < frames.held.length;
}

function trimTo(frames: SocketFrames, head: number): void {
  if (head >= frames.held.length) {
    frames.held = [];
    frames.head = 0;
  } else if (head > 1024 && head * 2 > frames.held.length) {
    frames.held = frames.held.slice(head);
    frames.head = 0;
  } else {
    frames.head = head;
  }
}
