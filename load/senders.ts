import { request } from 'undici';
import { now } from './clock.ts';

/**
 * Sending the way an application would: POSTs over keep-alive connections (undici's
 * `request`, which costs the load generator about a quarter of the CPU `fetch` does: on two
 * cores the generator's CPU is CPU the system under test does not get), timed from the
 * moment each leaves, and a tally of what came back. The send
 * time travels in the published data (`sentAt`) so the receiving client can compute
 * accept-to-receive latency.
 */
export interface SendTarget {
  gatewayUrl: string;
  apiKey: string;
}

/** An HTTP status, a system's own refusal inside a 2xx answer, or no answer at all. */
export type Outcome = number | string;

export interface SendResult {
  outcome: Outcome;
  /** The id the receiver will see with the publication, when it was accepted. */
  id?: string;
  postMs: number;
}

/**
 * One timed POST; `body` is made with the moment the request leaves (clock.now), so the
 * payload can carry it. A request with no answer reports `timeout` or `network`.
 */
export async function timedPost(
  url: string,
  headers: Record<string, string>,
  body: (sentAt: number) => string,
  timeoutMs = 10_000,
): Promise<{ status: number | 'timeout' | 'network'; text: string; postMs: number }> {
  const sentAt = now();
  try {
    const res = await request(url, { method: 'POST', headers, body: body(sentAt), signal: AbortSignal.timeout(timeoutMs) });
    const text = await res.body.text();
    return { status: res.statusCode, text, postMs: now() - sentAt };
  } catch (err) {
    const name = (err as Error).name;
    return { status: name === 'TimeoutError' || name === 'AbortError' ? 'timeout' : 'network', text: '', postMs: now() - sentAt };
  }
}

/** POST /notifications to PushFlow's gateway; accepted means 202 with a notificationId. */
export async function postNotification(
  target: SendTarget,
  recipientId: string,
  data: Record<string, unknown>,
  timeoutMs = 10_000,
): Promise<SendResult> {
  const r = await timedPost(
    `${target.gatewayUrl}/notifications`,
    { authorization: `Bearer ${target.apiKey}`, 'content-type': 'application/json' },
    (sentAt) => JSON.stringify({ recipientId, title: 'bench', data: { ...data, sentAt, to: recipientId } }),
    timeoutMs,
  );
  if (r.status !== 202) return { outcome: r.status, postMs: r.postMs };
  return { outcome: 202, id: (JSON.parse(r.text) as { notificationId: string }).notificationId, postMs: r.postMs };
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

/** Sends one publication with `send` and records its outcome in `tally`. */
export function tallied(
  send: (recipientId: string, data: Record<string, unknown>) => Promise<SendResult>,
  tally: Tally,
): (recipientId: string) => Promise<void> {
  return async (recipientId) => {
    tally.sent++;
    tally.inFlight++;
    const r = await send(recipientId, {});
    tally.inFlight--;
    if (r.id !== undefined) {
      tally.acceptedIds.push(r.id);
      tally.postMs.push(r.postMs);
    } else {
      tally.errors[String(r.outcome)] = (tally.errors[String(r.outcome)] ?? 0) + 1;
    }
  };
}
