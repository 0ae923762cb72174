// PushFlow end to end: RECEIVERS WebSocket clients connect over RAMP, then senders POST
// notifications to them at RATE a second for DURATION; the receivers stay DRAIN longer to get
// the last ones. Judged on delivery latency, on received/sent, and on HTTP failures; prints a
// short JSON summary.
//
//   k6 run load/k6/end-to-end.js
//   k6 run -e BASE_URL=http://localhost:3000 -e WS_URL=ws://localhost:8080/ws \
//          -e API_KEY=dev-only-api-key-change-me -e RECEIVERS=100 -e RAMP=10s \
//          -e RATE=500 -e DURATION=1m -e VUS=100 -e DRAIN=15s load/k6/end-to-end.js
//
// BASE_URL     gateway                                   http://localhost:3000
// WS_URL       delivery node                             ws://localhost:8080/ws
// API_KEY      an API key of PUSHFLOW_API_KEYS           dev-only-api-key-change-me
// RECEIVERS    clients, one recipient each               50
// RAMP         time over which they connect              10s
// RATE         notifications started a second            100
// DURATION     how long senders send                     30s
// VUS          VUs k6 may use to hold the rate           50
// DRAIN        receivers stay this long after sending    10s
// RECIPIENT_PREFIX  recipients are <prefix>-0 ... <prefix>-(RECEIVERS-1)   k6-recipient
// LATENCY_P99_MS    threshold on accept-to-receive p(99), ms                500
// HTTP_P99_MS       threshold on POST /notifications p(99), ms              500
// MIN_RECEIVED_RATIO  threshold on received/sent                           0.99
//
// Senders go round robin over the recipients. Keep RATE/RECEIVERS under 50 a second (each ack
// is a client frame; PUSHFLOW_MAX_CLIENT_MESSAGES_PER_SECOND) and RATE under
// PUSHFLOW_RATE_LIMIT_PER_SECOND (1000). Latency compares the gateway's clock with k6's.
import exec from 'k6/execution';
import { Counter, Rate, Trend } from 'k6/metrics';
import { targetFrom, recipientId, integerSetting, numberSetting, durationSetting, durationText } from './lib/settings.js';
import { assertGatewayAccepts, sendNotification } from './lib/gateway.js';
import { receiveUntil } from './lib/receiver.js';

const target = targetFrom(__ENV);
const receivers = integerSetting(__ENV, 'RECEIVERS', 50);
const ramp = durationSetting(__ENV, 'RAMP', '10s');
const rate = integerSetting(__ENV, 'RATE', 100);
const sendFor = durationSetting(__ENV, 'DURATION', '30s');
const vus = integerSetting(__ENV, 'VUS', 50);
const drain = durationSetting(__ENV, 'DRAIN', '10s');
const latencyP99Ms = numberSetting(__ENV, 'LATENCY_P99_MS', 500);
const httpP99Ms = numberSetting(__ENV, 'HTTP_P99_MS', 500);
const minReceivedRatio = numberSetting(__ENV, 'MIN_RECEIVED_RATIO', 0.99);

// Between the last receiver connecting and the first send, so every delivery node has
// registered its sockets' presence.
const SETTLE_MS = 5000;

const acceptToReceive = new Trend('pushflow_accept_to_receive', true);
const received = new Counter('pushflow_notifications_received');
const sent = new Counter('pushflow_notifications_sent');
// A threshold cannot divide one metric by another, so this Rate carries the ratio: each 202 adds
// false and each first receipt adds true, making it received / (sent + received), which is 0.5
// when everything sent arrived. received/sent >= r is rate >= r / (1 + r).
const receivedShare = new Rate('pushflow_received_share');

export const options = {
  scenarios: {
    receivers: {
      executor: 'ramping-vus',
      exec: 'receive',
      startVUs: 0,
      stages: [
        { duration: durationText(ramp), target: receivers },
        { duration: durationText(SETTLE_MS + sendFor + drain), target: receivers },
      ],
      gracefulRampDown: '0s',
      gracefulStop: '10s',
    },
    senders: {
      executor: 'constant-arrival-rate',
      exec: 'send',
      startTime: durationText(ramp + SETTLE_MS),
      rate,
      timeUnit: '1s',
      duration: durationText(sendFor),
      preAllocatedVUs: vus,
      maxVUs: vus,
    },
  },
  thresholds: {
    pushflow_accept_to_receive: [`p(99)<${latencyP99Ms}`],
    pushflow_received_share: [`rate>=${Math.floor((minReceivedRatio / (1 + minReceivedRatio)) * 1e6) / 1e6}`],
    http_req_failed: ['rate<0.01'],
    'http_req_duration{scenario:senders}': [`p(99)<${httpP99Ms}`],
    checks: ['rate>0.99'],
  },
  summaryTrendStats: ['avg', 'min', 'med', 'max', 'p(90)', 'p(95)', 'p(99)'],
};

export function setup() {
  assertGatewayAccepts(target);
}

export function receive() {
  const closeAt = exec.scenario.startTime + ramp + SETTLE_MS + sendFor + drain;
  receiveUntil(target, closeAt, (frame, receivedAt) => {
    received.add(1);
    receivedShare.add(true);
    acceptToReceive.add(receivedAt - Date.parse(frame.acceptedAt));
  });
}

export function send() {
  const iteration = exec.scenario.iterationInTest;
  if (sendNotification(target, recipientId(target, iteration % receivers), { iteration }) !== null) {
    sent.add(1);
    receivedShare.add(false);
  }
}

function stat(metrics, name, key) {
  const metric = metrics[name];
  return metric === undefined || metric.values[key] === undefined ? null : metric.values[key];
}

function rounded(value) {
  return value === null ? null : Math.round(value * 100) / 100;
}

export function handleSummary(data) {
  const m = data.metrics;
  const sentCount = stat(m, 'pushflow_notifications_sent', 'count') || 0;
  const receivedCount = stat(m, 'pushflow_notifications_received', 'count') || 0;
  const failedThresholds = [];
  for (const name of Object.keys(m)) {
    const thresholds = m[name].thresholds || {};
    for (const expression of Object.keys(thresholds)) {
      if (!thresholds[expression].ok) failedThresholds.push(`${name}: ${expression}`);
    }
  }
  const summary = {
    sent: sentCount,
    received: receivedCount,
    receivedPerSent: sentCount > 0 ? Math.round((receivedCount / sentCount) * 10000) / 10000 : null,
    acceptToReceiveMs: {
      p50: rounded(stat(m, 'pushflow_accept_to_receive', 'med')),
      p90: rounded(stat(m, 'pushflow_accept_to_receive', 'p(90)')),
      p99: rounded(stat(m, 'pushflow_accept_to_receive', 'p(99)')),
      max: rounded(stat(m, 'pushflow_accept_to_receive', 'max')),
    },
    postNotificationsMs: {
      p50: rounded(stat(m, 'http_req_duration{scenario:senders}', 'med')),
      p99: rounded(stat(m, 'http_req_duration{scenario:senders}', 'p(99)')),
    },
    httpFailedRate: stat(m, 'http_req_failed', 'rate'),
    thresholdsPassed: failedThresholds.length === 0,
    failedThresholds,
  };
  return { stdout: `${JSON.stringify(summary, null, 2)}\n` };
}
