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
  const r = await gatewayPost(target, '/notifications', (sentAt) => notification(recipientId, data, sentAt), timeoutMs);
  if (r.status !== 202) return { outcome: r.status, postMs: r.postMs };
  return { outcome: 202, id: (JSON.parse(r.text) as { notificationId: string }).notificationId, postMs: r.postMs };
}

/**
 * POST /notifications/batch: one request, one answer per notification in request order.
 * One is accepted when the request is answered 202 and the answer at its position has a
 * notificationId with status ACCEPTED; a refused request refuses all it carried.
 */
export async function postNotificationBatch(
  target: SendTarget,
  recipientIds: string[],
  data: Record<string, unknown>,
  timeoutMs = 10_000,
): Promise<SendResult[]> {
  const body = (sentAt: number) => ({ notifications: recipientIds.map((id) => notification(id, data, sentAt)) });
  const r = await gatewayPost(target, '/notifications/batch', body, timeoutMs);
  if (r.status !== 202) return recipientIds.map(() => ({ outcome: r.status, postMs: r.postMs }));
  const answers = (JSON.parse(r.text) as { notifications?: { notificationId?: string; status?: string }[] }).notifications ?? [];
  return recipientIds.map((_, i) => {
    const a = answers[i];
    if (a?.notificationId === undefined) return { outcome: '202 without an answer at its position', postMs: r.postMs };
    if (a.status !== 'ACCEPTED') return { outcome: `202 with status ${a.status}`, postMs: r.postMs };
    return { outcome: 202, id: a.notificationId, postMs: r.postMs };
  });
}

function gatewayPost(target: SendTarget, path: string, body: (sentAt: number) => unknown, timeoutMs: number) {
  const headers = { authorization: `Bearer ${target.apiKey}`, 'content-type': 'application/json' };
  return timedPost(`${target.gatewayUrl}${path}`, headers, (sentAt) => JSON.stringify(body(sentAt)), timeoutMs);
}

/** A notification as the gateway takes it; the receiver reads `sentAt` and `to` back from its data. */
function notification(recipientId: string, data: Record<string, unknown>, sentAt: number) {
  return { recipientId, title: 'bench', data: { ...data, sentAt, to: recipientId } };
}

/** Counts are of publications, except `requests` and `postMs`, which are per POST. */
export interface Tally {
  sent: number;
  inFlight: number;
  requests: number;
  acceptedIds: string[];
  /** The time of each POST that had anything accepted. */
  postMs: number[];
  errors: Record<string, number>;
}

export function createTally(): Tally {
  return { sent: 0, inFlight: 0, requests: 0, acceptedIds: [], postMs: [], errors: {} };
}

/**
 * Sends with `send`, one publication (a recipient) or a batch (recipients, one POST), and
 * records each outcome in `tally`; `data` goes into each publication's data.
 */
export function tallied<To extends string | string[]>(
  send: (to: To, data: Record<string, unknown>) => Promise<SendResult | SendResult[]>,
  tally: Tally,
  data: Record<string, unknown> = {},
): (to: To) => Promise<void> {
  return async (to) => {
    const n = typeof to === 'string' ? 1 : to.length;
    tally.sent += n;
    tally.inFlight += n;
    tally.requests++;
    const answer = await send(to, data);
    tally.inFlight -= n;
    const results = Array.isArray(answer) ? answer : [answer];
    for (const r of results) {
      if (r.id !== undefined) tally.acceptedIds.push(r.id);
      else tally.errors[String(r.outcome)] = (tally.errors[String(r.outcome)] ?? 0) + 1;
    }
    if (results.some((r) => r.id !== undefined)) tally.postMs.push(results[0]!.postMs);
  };
}
