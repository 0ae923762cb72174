// PushFlow send load: POST /notifications at a constant arrival rate.
//
//   k6 run load/k6/send.js
//   k6 run -e BASE_URL=http://localhost:3000 -e API_KEY=dev-only-api-key-change-me \
//          -e RATE=200 -e DURATION=1m -e VUS=100 -e RECEIVERS=50 load/k6/send.js
//
// BASE_URL     gateway                                   http://localhost:3000
// API_KEY      an API key of PUSHFLOW_API_KEYS           dev-only-api-key-change-me
// RATE         notifications started a second            100
// DURATION     how long                                  30s
// VUS          VUs k6 may use to hold the rate           50
// RECEIVERS    recipients sent to, round robin           50
// RECIPIENT_PREFIX  recipients are <prefix>-0 ... <prefix>-(RECEIVERS-1)   k6-recipient
// HTTP_P99_MS  threshold on the POST's p(99), ms         500
//
// With nobody connected every notification ends FAILED RECIPIENT_OFFLINE, which is still a 202:
// this measures the HTTP side. Run load/k6/receivers.js alongside (same RECEIVERS and
// RECIPIENT_PREFIX) to have them delivered, or load/k6/end-to-end.js for both in one run.
// Keep RATE under PUSHFLOW_RATE_LIMIT_PER_SECOND (1000 by default), or expect 429s.
import exec from 'k6/execution';
import { targetFrom, recipientId, integerSetting, numberSetting, durationSetting, senderOptions } from './lib/settings.js';
import { assertGatewayAccepts, sendNotification } from './lib/gateway.js';

const target = targetFrom(__ENV);
const rate = integerSetting(__ENV, 'RATE', 100);
const duration = durationSetting(__ENV, 'DURATION', '30s');
const vus = integerSetting(__ENV, 'VUS', 50);
const receivers = integerSetting(__ENV, 'RECEIVERS', 50);
const httpP99Ms = numberSetting(__ENV, 'HTTP_P99_MS', 500);

export const options = senderOptions('send', { rate, duration, vus, httpP99Ms });

export function setup() {
  assertGatewayAccepts(target);
}

export default function () {
  const iteration = exec.scenario.iterationInTest;
  sendNotification(target, recipientId(target, iteration % receivers), { iteration });
}
