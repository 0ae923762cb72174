import type { PushFlowError } from './errors.ts';

/**
 * Turns a client's events into an async iterator for `for await (const n of client)`.
 * It buffers what arrives between two turns of the loop, ends when the client stops, and
 * throws the error that stopped it, if one did (a bad token should not end a loop quietly).
 * Leaving the loop early (`break`) only stops the iteration: the client stays connected
 * until `close()`.
 */
export function eventIterator<T>(
  target: EventTarget,
  itemEvent: string,
  ended: () => { error?: PushFlowError } | undefined,
  endEvent: string,
): AsyncIterableIterator<T> {
  const buffer: T[] = [];
  let wake: (() => void) | undefined;
  let returned = false;
  const onItem = (event: Event) => {
    buffer.push((event as CustomEvent<T>).detail);
    wake?.();
  };
  const onEnd = () => wake?.();
  target.addEventListener(itemEvent, onItem);
  target.addEventListener(endEvent, onEnd);
  const detach = () => {
    returned = true;
    target.removeEventListener(itemEvent, onItem);
    target.removeEventListener(endEvent, onEnd);
  };

  const iterator: AsyncIterableIterator<T> = {
    async next(): Promise<IteratorResult<T>> {
      for (;;) {
        if (buffer.length > 0) return { value: buffer.shift() as T, done: false };
        const end = ended();
        if (returned || end) {
          detach();
          if (end?.error) throw end.error;
          return { value: undefined, done: true };
        }
        await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
      }
    },
    async return(): Promise<IteratorResult<T>> {
      detach();
      return { value: undefined, done: true };
    },
    [Symbol.asyncIterator]() {
      return iterator;
    },
  };
  return iterator;
}
