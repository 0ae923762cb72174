// PushFlow batch send load: POST /notifications/batch at a constant arrival rate, BATCH_SIZE
// notifications a request.
//
//   k6 run load/k6/send-batch.js
//   k6 run -e BASE_URL=http://localhost:3000 -e API_KEY=dev-only-api-key-change-me \
//          -e RATE=10 -e BATCH_SIZE=100 -e DURATION=1m -e VUS=20 -e RECEIVERS=50 load/k6/send-batch.js
//
// BASE_URL     gateway                                   http://localhost:3000
// API_KEY      an API key of PUSHFLOW_API_KEYS           dev-only-api-key-change-me
// RATE         batches (requests) started a second       5
// BATCH_SIZE   notifications in each batch               100
// DURATION     how long                                  30s
// VUS          VUs k6 may use to hold the rate           20
// RECEIVERS    recipients sent to, round robin           50
// RECIPIENT_PREFIX  recipients are <prefix>-0 ... <prefix>-(RECEIVERS-1)   k6-recipient
// HTTP_P99_MS  threshold on the POST's p(99), ms         1000
//
// RATE x BATCH_SIZE notifications a second: the rate limit counts notifications, so keep that
// under PUSHFLOW_RATE_LIMIT_PER_SECOND (1000 by default), and BATCH_SIZE at most the gateway's
// PUSHFLOW_MAX_BATCH_SIZE (1000) and PUSHFLOW_RATE_LIMIT_BURST, or expect 429s and 400s.
// pushflow_notifications_sent counts the notifications accepted. As with send.js, nobody
// connected means every notification ends FAILED RECIPIENT_OFFLINE: run load/k6/receivers.js
// alongside (same RECEIVERS and RECIPIENT_PREFIX) to have them delivered.
import exec from 'k6/execution';
import { Counter } from 'k6/metrics';
import { targetFrom, recipientId, integerSetting, numberSetting, durationSetting, senderOptions } from './lib/settings.js';
import { assertGatewayAccepts, sendNotificationBatch } from './lib/gateway.js';

// The gateway's ceiling for PUSHFLOW_MAX_BATCH_SIZE: a larger batch is never accepted.
const MAX_BATCH_SIZE = 10000;

const target = targetFrom(__ENV);
const rate = integerSetting(__ENV, 'RATE', 5);
const batchSize = integerSetting(__ENV, 'BATCH_SIZE', 100);
const duration = durationSetting(__ENV, 'DURATION', '30s');
const vus = integerSetting(__ENV, 'VUS', 20);
const receivers = integerSetting(__ENV, 'RECEIVERS', 50);
const httpP99Ms = numberSetting(__ENV, 'HTTP_P99_MS', 1000);
if (batchSize > MAX_BATCH_SIZE) throw new Error(`BATCH_SIZE must be at most ${MAX_BATCH_SIZE}, got '${batchSize}'`);

const sent = new Counter('pushflow_notifications_sent');

export const options = senderOptions('sendBatch', { rate, duration, vus, httpP99Ms });

export function setup() {
  assertGatewayAccepts(target);
}

export default function () {
  const iteration = exec.scenario.iterationInTest;
  // Round robin over the recipients across batches, as send.js does across requests.
  const notifications = Array.from({ length: batchSize }, (_, index) => ({
    recipientId: recipientId(target, (iteration * batchSize + index) % receivers),
    title: 'k6',
    body: 'PushFlow batch load test',
    data: { iteration, index },
  }));
  const accepted = sendNotificationBatch(target, notifications);
  if (accepted) sent.add(accepted.length);
}
