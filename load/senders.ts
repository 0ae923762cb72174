import { now } from './clock.ts';

/**
 * POST /notifications the way an application would, over Node's fetch (undici, keep-alive
 * connections), and a tally of what came back. The send time travels in `data.sentAt` so
 * the receiving client can compute accept-to-receive latency.
 */
export interface SendTarget {
  gatewayUrl: string;
  apiKey: string;
}

export type Outcome = number | 'timeout' | 'network';

export interface SendResult {
  outcome: Outcome;
  notificationId?: string;
  postMs: number;
}

export async function postNotification(
  target: SendTarget,
  recipientId: string,
  data: Record<string, unknown>,
  timeoutMs = 10_000,
): Promise<SendResult> {
  const sentAt = now();
  try {
    const res = await fetch(`${target.gatewayUrl}/notifications`, {
      method: 'POST',
      headers: { authorization: `Bearer ${target.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ recipientId, title: 'bench', data: { ...data, sentAt, to: recipientId } }),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await res.text();
    const postMs = now() - sentAt;
    if (res.status !== 202) return { outcome: res.status, postMs };
    return { outcome: 202, notificationId: (JSON.parse(text) as { notificationId: string }).notificationId, postMs };
  } catch (err) {
    const name = (err as Error).name;
    return { outcome: name === 'TimeoutError' || name === 'AbortError' ? 'timeout' : 'network', postMs: now() - sentAt };
  }
}

export interface Tally {
  sent: number;
  inFlight: number;
  acceptedIds: string[];
  postMs: number[];
  errors: Record<string, number>;
}

export function createTally(): Tally {
  return { sent: 0, inFlight: 0, acceptedIds: [], postMs: [], errors: {} };
}

/** Sends one notification and records its outcome in `tally`. */
export function tallied(target: SendTarget, tally: Tally): (recipientId: string) => Promise<void> {
  return async (recipientId) => {
    tally.sent++;
    tally.inFlight++;
    const r = await postNotification(target, recipientId, {});
    tally.inFlight--;
    if (r.notificationId) {
      tally.acceptedIds.push(r.notificationId);
      tally.postMs.push(r.postMs);
    } else {
      tally.errors[String(r.outcome)] = (tally.errors[String(r.outcome)] ?? 0) + 1;
    }
  };
}
