import { request } from 'undici';
import { now } from '../drivers/clock.ts';
import { postNotification, postNotificationBatch } from '../drivers/senders.ts';
import type { Target } from '../drivers/target.ts';
import { startWebhookReceiver } from '../drivers/webhook-receiver.ts';
import { drainSecondsFor, type BenchOptions } from '../options.ts';
import { cpuCost } from '../probes/cpu-cost.ts';
import { startWindowUsage } from '../probes/window-usage.ts';
import { summarize } from '../report/percentiles.ts';
import { startProgress } from '../report/progress.ts';
import { stackParameters } from '../report/report.ts';

/**
 * The relay phase stops sending at this many notifications: enough for a sustained rate
 * (50 s at the target's 2,000/s), and few enough to drain within --drain.
 */
const RELAY_FLOOD = 100_000;

/**
 * Outcome webhooks: what the relay costs the send path, and how fast it POSTs. Recipients
 * are offline, so every notification ends `failed` (RECIPIENT_OFFLINE) and makes one
 * message for an endpoint subscribed to failed and acknowledged (the target).
 *
 * 1. baseline: --concurrency closed-loop POST /notifications for --duration, no endpoint;
 * 2. with-webhook: the same with the endpoint, and a receiver on loopback on a thread of
 *    this process (so answering it does not slow the load generator's loop);
 * 3. baseline again, once the relay has sent the with-webhook window's messages, with the
 *    endpoint disabled. The send rate against the two baselines' mean is the cost (target:
 *    at most 10% lower): a VM's speed drifts over a run, and a baseline on each side of the
 *    window cancels a steady drift that one before it would count as cost or gain;
 * 4. relay: POST /notifications/batch of --batch for --duration or RELAY_FLOOD
 *    notifications, so the ledger fills faster than the relay can POST: the receiver's
 *    rate until the last message is the relay's sustained rate (target: 2,000/s).
 *
 * Verified when every accepted notification of phases 2 and 3 got its message within
 * --drain, and every 100th message (standardwebhooks' HMAC is plain JavaScript, CPU the
 * stack would not get) verified with the secret. The stack must let webhooks reach
 * loopback (PUSHFLOW_WEBHOOK_ALLOW_PRIVATE=true; bench.ts starts it so).
 */
export async function webhooksScenario(target: Target, options: BenchOptions) {
  const run = Math.random().toString(36).slice(2, 8);
  const recipients = Array.from({ length: options.recipients }, (_, i) => `bench-wh-${run}-${i}`);
  const receiver = await startWebhookReceiver();
  const { received, lateness } = receiver;
  const receiverUrl = receiver.url;

  let phase = 'warming up';
  let accepted: string[] = [];
  const started = now();
  const progress = startProgress(
    'webhooks',
    () => `${phase} ${((now() - started) / 1000).toFixed(1)}s accepted ${accepted.length} messages ${receiver.messages()}`,
  );
  const headers = { authorization: `Bearer ${target.apiKey}`, 'content-type': 'application/json' };
  let endpointId: string | undefined;
  try {
    const closedLoop = async (seconds: number, batch: number, most = Number.POSITIVE_INFINITY) => {
      accepted = [];
      const deadline = now() + seconds * 1000;
      let i = 0;
      await Promise.all(
        Array.from({ length: options.concurrency }, async () => {
          while (now() < deadline && i < most) {
            if (batch === 1) {
              const r = await postNotification(target, recipients[i++ % recipients.length]!, {});
              if (r.id) accepted.push(r.id);
            } else {
              const to = Array.from({ length: batch }, () => recipients[i++ % recipients.length]!);
              for (const r of await postNotificationBatch(target, to, {})) if (r.id) accepted.push(r.id);
            }
          }
        }),
      );
      return accepted;
    };
    /** Until each notification's message has arrived, or --drain is over. */
    const messagesFor = async (ids: string[]) => {
      const deadline = now() + drainSecondsFor(options, 'webhooks') * 1000;
      while (now() < deadline && ids.some((id) => !received.has(id))) await new Promise((r) => setTimeout(r, 200));
    };
    const measured = async (seconds: number, batch: number, most?: number) => {
      const usage = await startWindowUsage(target);
      const t0 = now();
      const ids = [...(await closedLoop(seconds, batch, most))];
      const windowSeconds = (now() - t0) / 1000;
      return { ids, windowSeconds, t0, used: await usage.stop() };
    };

    await closedLoop(Math.min(2, options.durationSeconds / 5), 1);
    phase = 'baseline';
    const baseline = await measured(options.durationSeconds, 1);

    const made = await request(`${target.gatewayUrl}/webhooks`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ url: receiverUrl, events: ['notification.failed', 'notification.acknowledged'] }),
    });
    const endpoint = (await made.body.json()) as { id?: string; secret?: string; detail?: string };
    if (made.statusCode !== 201 || !endpoint.id) {
      throw new Error(`POST /webhooks answered ${made.statusCode} ${endpoint.detail ?? ''}: does the dispatcher allow private addresses?`);
    }
    endpointId = endpoint.id;
    receiver.verifyWith(endpoint.secret!);

    phase = 'with-webhook';
    const withWebhook = await measured(options.durationSeconds, 1);
    phase = 'catching up';
    await messagesFor(withWebhook.ids);
    const enabled = async (on: boolean) => {
      const r = await request(`${target.gatewayUrl}/webhooks/${endpointId}`, {
        method: 'PATCH',
        headers,
        body: JSON.stringify({ enabled: on }),
      });
      await r.body.dump();
      if (r.statusCode !== 200) throw new Error(`PATCH /webhooks/${endpointId} answered ${r.statusCode}`);
    };
    await enabled(false);
    phase = 'baseline again';
    const baselineAfter = await measured(options.durationSeconds, 1);
    await enabled(true);
    phase = 'relay';
    const messagesBefore = receiver.messages();
    const relay = await measured(options.durationSeconds, options.batch, RELAY_FLOOD);

    phase = 'draining';
    const wanted = [...withWebhook.ids, ...relay.ids];
    await messagesFor(wanted);
    const missing = wanted.filter((id) => !received.has(id)).length;
    const relayTimes = relay.ids.map((id) => received.get(id)).filter((t): t is number => t !== undefined);
    // A loop, not Math.max(...times): a spread of 200,000 arguments overflows the stack.
    const relayLast = relayTimes.length > 0 ? relayTimes.reduce((a, b) => Math.max(a, b)) : now();
    const relaySeconds = (relayLast - relay.t0) / 1000;
    const relayMessages = receiver.messages() - messagesBefore;

    const rate = (ids: string[], s: number) => round(ids.length / s);
    const baselineRates = [rate(baseline.ids, baseline.windowSeconds), rate(baselineAfter.ids, baselineAfter.windowSeconds)];
    const baselineRate = round((baselineRates[0]! + baselineRates[1]!) / 2);
    const withRate = rate(withWebhook.ids, withWebhook.windowSeconds);
    return {
      scenario: 'webhooks' as const,
      parameters: {
        concurrency: options.concurrency,
        durationSeconds: options.durationSeconds,
        recipients: options.recipients,
        batch: options.batch,
        events: ['notification.failed', 'notification.acknowledged'],
        ...stackParameters(target, Boolean(options.external)),
      },
      sendPath: {
        /** The mean of the baselines before and after the with-webhook window. */
        baselinePerSecond: baselineRate,
        baselinesPerSecond: baselineRates,
        withWebhookPerSecond: withRate,
        /** 1 - with / baseline: the target is at most 0.10. */
        throughputLoss: round(1 - withRate / baselineRate, 3),
      },
      relay: {
        /** Webhook POSTs per second from the start of the batch window until its last notification's message arrived. */
        postsPerSecond: round(relayMessages / relaySeconds),
        notificationsAccepted: relay.ids.length,
        acceptedPerSecond: rate(relay.ids, relay.windowSeconds),
        seconds: round(relaySeconds, 2),
      },
      /** From the event (its `at`) to the receiver, first delivery of each message. */
      latencyMs: { eventToReceiver: summarize(lateness) },
      counts: {
        messages: receiver.messages(),
        missing,
        badSignatures: receiver.badSignatures(),
        verifiedSignatures: receiver.verifiedSignatures(),
      },
      verified: missing === 0 && receiver.badSignatures() === 0 && receiver.verifiedSignatures() > 0 && wanted.length > 0,
      baselineWindow: baseline.used,
      baselineAfterWindow: baselineAfter.used,
      ...withWebhook.used,
      ...cpuCost(withWebhook.used.cpuSecondsDuringWindow, withWebhook.ids.length, 'Notification'),
    };
  } finally {
    progress.stop();
    if (endpointId)
      await request(`${target.gatewayUrl}/webhooks/${endpointId}`, {
        method: 'DELETE',
        headers: { authorization: headers.authorization },
      }).then(
        (r) => r.body.dump(),
        () => {},
      );
    await receiver.close();
  }
}

function round(n: number, decimals = 1): number {
  return Number(n.toFixed(decimals));
}
