/**
 * Sends acks no faster than `perSecond`: a node closes a socket that sends more frames a
 * second than PUSHFLOW_MAX_CLIENT_MESSAGES_PER_SECOND (50 by default) with 4008, and a burst
 * of notifications acked automatically would do just that. A token bucket like the node's
 * (it holds one second's allowance and refills continuously); acks over it wait their turn.
 */
export interface AckPacer {
  /** Sends now or queues. */
  push(frame: string): void;
  /** Drops what is queued: acks belong to the socket that received the notification. */
  clear(): void;
  /** Sends everything queued now, over the pace: the socket is about to close anyway. */
  drain(): void;
}

export function ackPacer(perSecond: number, send: (frame: string) => void, now: () => number = Date.now): AckPacer {
  let tokens = perSecond;
  let refilledAt = now();
  let queue: string[] = [];
  let timer: ReturnType<typeof setTimeout> | undefined;

  function refill(): void {
    const t = now();
    tokens = Math.min(perSecond, tokens + ((t - refilledAt) * perSecond) / 1000);
    refilledAt = t;
  }

  function flush(): void {
    timer = undefined;
    refill();
    while (queue.length > 0 && tokens >= 1) {
      tokens -= 1;
      send(queue.shift() as string);
    }
    // The time the next token takes to come in, plus a millisecond against rounding.
    if (queue.length > 0) timer = setTimeout(flush, Math.ceil(((1 - tokens) * 1000) / perSecond) + 1);
  }

  return {
    push(frame) {
      queue.push(frame);
      if (timer === undefined) flush();
    },
    drain() {
      for (const frame of queue) send(frame);
      queue = [];
    },
    clear() {
      clearTimeout(timer);
      timer = undefined;
      queue = [];
    },
  };
}
