import { Counter, type Registry } from 'prom-client';
import type { LedgerEvent } from '../domain/events.ts';

/** Counts ledger events once they are written, by type and (for failures) reason. */
export interface LedgerCounter {
  written(events: readonly LedgerEvent[]): void;
}

const TYPE_PREFIX = 'notification.';

export function createLedgerCounter(registry: Registry): LedgerCounter {
  const counter = new Counter({
    name: 'pushflow_events_total',
    help: 'Ledger events written by this process, by type (accepted, dispatched, delivered, failed, acknowledged) and failure reason',
    labelNames: ['type', 'reason'],
    registers: [registry],
  });
  return {
    written(events) {
      // Tallied first so a batch costs one inc per (type, reason), not one per event.
      const tally = new Map<string, number>();
      for (const e of events) {
        const key = e.type === 'notification.failed' ? `${e.type}|${e.reason}` : e.type;
        tally.set(key, (tally.get(key) ?? 0) + 1);
      }
      for (const [key, n] of tally) {
        const [type, reason] = key.slice(TYPE_PREFIX.length).split('|');
        counter.inc(reason === undefined ? { type: type! } : { type: type!, reason }, n);
      }
    },
  };
}
