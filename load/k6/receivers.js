// PushFlow receivers: RECEIVERS WebSocket clients, one recipient each, that ack every
// notification and measure accept-to-receive latency (receive time minus the frame's acceptedAt).
//
//   k6 run load/k6/receivers.js
//   k6 run -e BASE_URL=http://localhost:3000 -e WS_URL=ws://localhost:8080/ws \
//          -e API_KEY=dev-only-api-key-change-me -e RECEIVERS=200 -e RAMP=20s -e DURATION=5m \
//          load/k6/receivers.js
//
// BASE_URL     gateway (connect tokens)                  http://localhost:3000
// WS_URL       delivery node                             ws://localhost:8080/ws
// API_KEY      an API key of PUSHFLOW_API_KEYS           dev-only-api-key-change-me
// RECEIVERS    clients, one recipient each               50
// RAMP         time over which they connect              10s
// DURATION     how long all stay connected after RAMP    60s
// RECIPIENT_PREFIX  recipients are <prefix>-0 ... <prefix>-(RECEIVERS-1)   k6-recipient
// LATENCY_P99_MS    threshold on accept-to-receive p(99), ms                500
//
// Someone else sends meanwhile: load/k6/send.js with the same RECEIVERS and RECIPIENT_PREFIX, or
// your application. The latency compares the gateway's clock with k6's: run k6 on the same host
// or on NTP-synchronised ones. Each ack is a client frame: keep each recipient under
// PUSHFLOW_MAX_CLIENT_MESSAGES_PER_SECOND (50) notifications a second or the node closes it (4008).
import exec from 'k6/execution';
import { Counter, Trend } from 'k6/metrics';
import { targetFrom, integerSetting, numberSetting, durationSetting, durationText } from './lib/settings.js';
import { assertGatewayAccepts } from './lib/gateway.js';
import { receiveUntil } from './lib/receiver.js';

const target = targetFrom(__ENV);
const receivers = integerSetting(__ENV, 'RECEIVERS', 50);
const ramp = durationSetting(__ENV, 'RAMP', '10s');
const hold = durationSetting(__ENV, 'DURATION', '60s');
const latencyP99Ms = numberSetting(__ENV, 'LATENCY_P99_MS', 500);

const acceptToReceive = new Trend('pushflow_accept_to_receive', true);
const received = new Counter('pushflow_notifications_received');

export const options = {
  scenarios: {
    receivers: {
      executor: 'ramping-vus',
      startVUs: 0,
      stages: [
        { duration: durationText(ramp), target: receivers },
        { duration: durationText(hold), target: receivers },
      ],
      gracefulRampDown: '0s',
      gracefulStop: '10s',
    },
  },
  thresholds: {
    pushflow_accept_to_receive: [`p(99)<${latencyP99Ms}`],
    pushflow_notifications_received: ['count>0'],
    http_req_failed: ['rate<0.01'],
    checks: ['rate>0.99'],
  },
  summaryTrendStats: ['avg', 'min', 'med', 'max', 'p(90)', 'p(95)', 'p(99)'],
};

export function setup() {
  assertGatewayAccepts(target);
}

export default function () {
  // A sample of 0 so the count>0 threshold is judged, and fails, when nothing arrives at all.
  received.add(0);
  receiveUntil(target, exec.scenario.startTime + ramp + hold, (frame, receivedAt) => {
    received.add(1);
    acceptToReceive.add(receivedAt - Date.parse(frame.acceptedAt));
  });
}
