/**
 * One endpoint's queue: at most `concurrency` attempts in flight, and one notification's
 * messages one after another, in the order they were pushed (ledger order): a message
 * starts only once the one before it for the same notification has settled (succeeded,
 * or been stored for a retry). Messages of other notifications pass a busy one. Every
 * endpoint has its own queue, so a slow one fills only its own slots.
 */
export interface Queued {
  /** Messages of the same lane (a notification) run one at a time, in order. */
  lane: string;
  /** Set when the message was taken out (stored for later) before it started. */
  withdrawn?: boolean;
  started?: boolean;
}

export interface EndpointQueue<M extends Queued> {
  push(m: M): void;
  /** Attempts in flight. */
  readonly running: number;
  /** Messages pushed and not started (withdrawn ones excluded). */
  readonly waiting: number;
  /** Takes a message that has not started out of the queue; false when it has started. */
  withdraw(m: M): boolean;
}

export function createEndpointQueue<M extends Queued>(concurrency: number, run: (m: M) => Promise<void>): EndpointQueue<M> {
  const lanes = new Map<string, M[]>();
  /** Lanes whose head may start, oldest first. */
  let ready: string[] = [];
  let readyHead = 0;
  let running = 0;
  let waiting = 0;

  function pump(): void {
    while (running < concurrency && readyHead < ready.length) {
      const lane = ready[readyHead++]!;
      if (readyHead > 1024 && readyHead * 2 > ready.length) {
        ready = ready.slice(readyHead);
        readyHead = 0;
      }
      const list = lanes.get(lane);
      if (!list) continue;
      const m = list[0]!;
      if (m.withdrawn) {
        next(lane, list);
        continue;
      }
      m.started = true;
      running++;
      waiting--;
      run(m)
        .catch(() => {})
        .finally(() => {
          running--;
          next(lane, list);
          pump();
        });
    }
  }

  /** The lane's head is done: the next one, if any, may start. */
  function next(lane: string, list: M[]): void {
    list.shift();
    if (list.length === 0) lanes.delete(lane);
    else ready.push(lane);
  }

  return {
    push(m) {
      waiting++;
      const list = lanes.get(m.lane);
      if (list) list.push(m);
      else {
        lanes.set(m.lane, [m]);
        ready.push(m.lane);
      }
      pump();
    },
    get running() {
      return running;
    },
    get waiting() {
      return waiting;
    },
    withdraw(m) {
      if (m.started || m.withdrawn) return false;
      m.withdrawn = true;
      waiting--;
      return true;
    },
  };
}
