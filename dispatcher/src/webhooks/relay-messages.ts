import type { AttemptOutcome } from './relay.ts';

/**
 * What the dispatcher's main thread and the webhook relay's thread tell each other
 * (relay-host.ts, relay-thread.ts): structured-clone messages over the worker's port.
 */
export type ToRelay =
  | { op: 'consume'; partition: number; reclaim: boolean }
  | { op: 'release'; id: number; partition: number }
  | { op: 'test'; id: number; endpointId: string }
  | { op: 'halt' }
  | { op: 'stop'; id: number };

export type FromRelay =
  | { op: 'ready'; nice?: number; priorityError?: string }
  | { op: 'reply'; id: number; value?: string; error?: string }
  /** Its logger's lines, written to the main thread's destination as they are. */
  | { op: 'log'; line: string }
  /** Attempts since the last report: [endpointId, outcome, latencyMs]. */
  | { op: 'attempts'; list: [string, AttemptOutcome, number][] }
  /** Messages held in memory per endpoint, in flight and waiting, replacing the last report. */
  | { op: 'in-memory'; counts: [string, number][] }
  | { op: 'batch'; stream: string; size: number };
