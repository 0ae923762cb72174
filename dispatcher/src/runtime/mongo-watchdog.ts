import type { MongoClient } from 'mongodb';
import type { Logger } from '@pushflow/shared';

/**
 * Restarts a MongoDB client whose server monitor has hung.
 *
 * The driver (seen with mongodb 6.22; 7.9 has the same code) can leave its monitor waiting
 * for ever on a heartbeat sent over a connection that a network cut had just closed: the
 * hello never fails, so no heartbeat is ever sent again, the server stays Unknown, and
 * every operation fails server selection for ever, long after MongoDB is back. A restarted
 * dispatcher recovers at once, so this does what a restart would: heartbeats are public
 * events, and one that started and neither succeeded nor failed within `stallMs` (well past
 * connectTimeoutMS, the heartbeat's own socket timeout) means the monitor is stuck. The
 * client is closed and connected again; collections taken from it keep working, as every
 * operation looks up the client's current topology.
 */
export interface HeartbeatSource {
  on(event: 'serverHeartbeatStarted', listener: (e: { connectionId: string }) => void): unknown;
  on(event: 'serverHeartbeatSucceeded' | 'serverHeartbeatFailed', listener: (e: { connectionId: string }) => void): unknown;
}

export interface Watchdog {
  stop(): void;
}

export interface WatchdogOptions {
  /** A heartbeat unanswered this long means the monitor is stuck. */
  stallMs: number;
  log: Logger;
  /** Restarts the client; retried at the next check when it fails. */
  restart: () => Promise<void>;
  now?: () => number;
  /** How often to look; a quarter of stallMs by default. */
  checkEveryMs?: number;
}

export function watchHeartbeats(client: HeartbeatSource, opts: WatchdogOptions): Watchdog & { check(): Promise<void> } {
  const now = opts.now ?? Date.now;
  /** When each server's heartbeat in flight started. */
  const inFlight = new Map<string, number>();
  let restarting = false;

  client.on('serverHeartbeatStarted', (e) => inFlight.set(e.connectionId, now()));
  const settled = (e: { connectionId: string }) => inFlight.delete(e.connectionId);
  client.on('serverHeartbeatSucceeded', settled);
  client.on('serverHeartbeatFailed', settled);

  async function check(): Promise<void> {
    if (restarting) return;
    const stuck = [...inFlight].filter(([, startedAt]) => now() - startedAt > opts.stallMs);
    if (stuck.length === 0) return;
    restarting = true;
    opts.log.error(
      { servers: stuck.map(([server]) => server), stallMs: opts.stallMs },
      'MongoDB driver heartbeat never answered: its monitor is stuck; restarting the client',
    );
    try {
      await opts.restart();
      // The new topology's monitors start afresh; the old ones will never report.
      for (const [server] of stuck) inFlight.delete(server);
      opts.log.info('MongoDB client restarted');
    } catch (err) {
      opts.log.warn({ err: (err as Error).message }, 'MongoDB client restart failed; will try again');
    } finally {
      restarting = false;
    }
  }

  const timer = setInterval(() => void check(), opts.checkEveryMs ?? Math.max(250, opts.stallMs / 4));
  timer.unref();
  return { check, stop: () => clearInterval(timer) };
}

/** Closes the client and connects it again: a new topology, with new monitors. */
export async function restartClient(client: MongoClient): Promise<void> {
  await client.close();
  await client.connect();
}
