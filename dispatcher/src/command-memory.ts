import { pipelined, type Keys, type RedisClient } from '@pushflow/shared';
import type { StoredCommand } from './store.ts';

/**
 * Redis remembers which notification each send command without an Idempotency-Key became,
 * so that a command redelivered after a crash yields the same notification without a
 * MongoDB write on the send path. `SET key value NX GET` (Redis 7.0 or later) records a
 * new command and hands back an earlier record in one round trip, one key per command.
 *
 * The record expires after `windowMs`, which the configuration keeps well past the time a
 * crashed dispatcher's commands stay pending. Should Redis lose a record anyway, the
 * command makes a second notification and the projector keeps the first (store.ts).
 */
export async function rememberCommands(
  redis: RedisClient,
  keys: Keys,
  commands: { commandId: string; notificationId: string; acceptedAt: number }[],
  windowMs: number,
): Promise<Map<string, StoredCommand>> {
  const earlier = new Map<string, StoredCommand>();
  if (commands.length === 0) return earlier;
  const results = await pipelined(redis, (pipe) => {
    for (const c of commands) {
      const record = JSON.stringify({ notificationId: c.notificationId, acceptedAt: c.acceptedAt });
      pipe.set(keys.command(c.commandId), record, 'PX', windowMs, 'NX', 'GET');
    }
  });
  results.forEach(([err, value], i) => {
    if (err) throw err;
    if (typeof value !== 'string') return;
    const record = parseRecord(value);
    // Two commands of one batch with the same id: the second finds the first's record,
    // exactly as it would find one stored by an earlier batch.
    if (record && !earlier.has(commands[i]!.commandId)) earlier.set(commands[i]!.commandId, record);
  });
  return earlier;
}

function parseRecord(value: string): StoredCommand | undefined {
  try {
    const { notificationId, acceptedAt } = JSON.parse(value) as Partial<StoredCommand>;
    if (typeof notificationId !== 'string' || typeof acceptedAt !== 'number') return undefined;
    return { notificationId, acceptedAt };
  } catch {
    return undefined;
  }
}
