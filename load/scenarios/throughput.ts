import { now } from '../drivers/clock.ts';
import type { Driver } from './run-scenario.ts';

/**
 * Closed loop: `concurrency` senders, each POSTing again as soon as its previous POST is
 * answered, round-robin over the recipients. What the system sustains is the accept rate.
 */
export function throughputScenario(concurrency: number): Driver {
  return {
    name: 'throughput',
    parameters: { concurrency },
    drive: ({ send, recipients, deadline }) => closedLoop(concurrency, deadline, (i) => send(recipients[i % recipients.length]!)),
  };
}

/**
 * The same closed loop with `size` notifications a POST (the next `size` recipients,
 * round-robin): what batching buys, and what the projector then has to keep up with.
 */
export function batchScenario(concurrency: number, size: number): Driver {
  return {
    name: 'batch',
    parameters: { concurrency, batch: size },
    drive: ({ sendBatch, recipients, deadline }) =>
      closedLoop(concurrency, deadline, (i) =>
        sendBatch(Array.from({ length: size }, (_, k) => recipients[(i * size + k) % recipients.length]!)),
      ),
  };
}

/** `concurrency` loops calling `step` with 0, 1, 2… (shared among them) until the deadline. */
async function closedLoop(concurrency: number, deadline: number, step: (i: number) => Promise<void>): Promise<Record<string, unknown>> {
  let i = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (now() < deadline) await step(i++);
    }),
  );
  return {};
}
