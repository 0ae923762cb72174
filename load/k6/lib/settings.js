// Settings the PushFlow k6 scripts read from `k6 run -e NAME=value` (or the environment). They are
// checked in the init context, so a bad value stops k6 before any VU starts, naming the variable.

const DURATION = /^(\d+(\.\d+)?(ms|s|m|h))+$/;
const DURATION_PART = /(\d+(?:\.\d+)?)(ms|s|m|h)/g;
const UNIT_MS = { ms: 1, s: 1000, m: 60000, h: 3600000 };
// A recipient id is at most 128 characters of these (docs/api.md, HTTP API); the prefix leaves room
// for the number the scripts append.
const RECIPIENT_PREFIX = /^[A-Za-z0-9_.@-]{1,100}$/;

function given(env, name) {
  const raw = env[name];
  return raw === undefined || raw === '' ? undefined : String(raw);
}

function urlSetting(env, name, fallback, schemes) {
  const url = given(env, name) ?? fallback;
  if (!schemes.some((scheme) => url.startsWith(`${scheme}://`))) {
    throw new Error(`${name} must start with ${schemes.map((s) => `${s}://`).join(' or ')}, got '${url}'`);
  }
  return url.replace(/\/+$/, '');
}

/** Where the stack is and how to talk to it. */
export function targetFrom(env) {
  const recipientPrefix = given(env, 'RECIPIENT_PREFIX') ?? 'k6-recipient';
  if (!RECIPIENT_PREFIX.test(recipientPrefix)) {
    throw new Error(`RECIPIENT_PREFIX must be 1 to 100 letters, digits or _ . @ -, got '${recipientPrefix}'`);
  }
  return {
    baseUrl: urlSetting(env, 'BASE_URL', 'http://localhost:3000', ['http', 'https']),
    wsUrl: urlSetting(env, 'WS_URL', 'ws://localhost:8080/ws', ['ws', 'wss']),
    apiKey: given(env, 'API_KEY') ?? 'dev-only-api-key-change-me',
    recipientPrefix,
  };
}

/** The recipient id of receiver number `index` (0-based); senders and receivers agree on it. */
export function recipientId(target, index) {
  return `${target.recipientPrefix}-${index}`;
}

export function integerSetting(env, name, fallback) {
  const raw = given(env, name);
  if (raw === undefined) return fallback;
  if (!/^[1-9]\d{0,8}$/.test(raw)) throw new Error(`${name} must be a positive integer, got '${raw}'`);
  return Number(raw);
}

export function numberSetting(env, name, fallback) {
  const raw = given(env, name);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!/^\d+(\.\d+)?$/.test(raw) || !(value > 0)) throw new Error(`${name} must be a positive number, got '${raw}'`);
  return value;
}

/** A k6 duration ('30s', '1m30s', '500ms', '2h') in milliseconds. */
export function durationSetting(env, name, fallback) {
  const raw = given(env, name) ?? fallback;
  if (!DURATION.test(raw)) throw new Error(`${name} must be a duration such as 30s, 1m30s or 500ms, got '${raw}'`);
  let ms = 0;
  DURATION_PART.lastIndex = 0;
  for (let part = DURATION_PART.exec(raw); part !== null; part = DURATION_PART.exec(raw)) {
    ms += Number(part[1]) * UNIT_MS[part[2]];
  }
  if (!(ms >= 1000)) throw new Error(`${name} must be at least 1s, got '${raw}'`);
  return Math.round(ms);
}

/** Milliseconds as a k6 duration string, for options. */
export function durationText(ms) {
  return `${Math.round(ms)}ms`;
}

/**
 * Options of a sender script: one constant-arrival-rate scenario and the thresholds every
 * sender holds to (under 1% failed requests, the POST's p(99), every answer checked).
 */
export function senderOptions(scenario, { rate, duration, vus, httpP99Ms }) {
  return {
    scenarios: {
      [scenario]: {
        executor: 'constant-arrival-rate',
        rate,
        timeUnit: '1s',
        duration: durationText(duration),
        preAllocatedVUs: vus,
        maxVUs: vus,
      },
    },
    thresholds: {
      http_req_failed: ['rate<0.01'],
      http_req_duration: [`p(99)<${httpP99Ms}`],
      checks: ['rate>0.99'],
    },
    summaryTrendStats: ['avg', 'min', 'med', 'max', 'p(90)', 'p(95)', 'p(99)'],
  };
}
