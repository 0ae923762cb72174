/**
 * What the k6 stubs record and what the test controls: one shared object, since the stubs are
 * imported by the scripts under test (through hooks.mjs) and by the test itself, and both get
 * the same module instances.
 */

export type Phase = 'init' | 'vu';
export type MetricType = 'counter' | 'gauge' | 'rate' | 'trend';

export interface HttpCall {
  method: string;
  url: string;
  body: string | null;
  headers: Record<string, string>;
  tags: Record<string, string>;
}

export interface HttpAnswer {
  status: number;
  body?: unknown;
  error?: string;
}

export interface Sample {
  value: number;
  tags: Record<string, string> | undefined;
}

export interface DeclaredMetric {
  type: MetricType;
  isTime: boolean;
  samples: Sample[];
}

export interface CheckResult {
  name: string;
  ok: boolean;
}

export interface Timer {
  id: number;
  delayMs: number;
  repeat: boolean;
  cleared: boolean;
  run: () => void;
}

/** The test's handle on a socket a script opened: it plays the server side. */
export interface SocketControl {
  url: string;
  params: unknown;
  /** Frames the script sent. */
  sent: string[];
  /** The code and reason of the script's close(), once it called it. */
  closedByClient: { code: number; reason: string } | null;
  readonly readyState: number;
  /** The upgrade succeeded: readyState OPEN, 'open' fires. */
  open(): void;
  /** A text frame from the server: 'message' fires. */
  receive(text: string): void;
  /** The server's close frame: 'error' (unless 1000 or 1001) then 'close' fire. */
  serverClose(code: number, reason?: string): void;
  /** The closing handshake the script started finishes: 'close' fires. */
  finishClose(): void;
}

export interface ExecutionInfo {
  scenario: {
    name: string;
    executor: string;
    startTime: number;
    progress: number;
    iterationInInstance: number;
    iterationInTest: number;
  };
  vu: {
    idInInstance: number;
    idInTest: number;
    iterationInInstance: number;
    iterationInScenario: number;
  };
}

export function defaultAnswer(call: HttpCall): HttpAnswer {
  if (call.method === 'POST' && call.url.endsWith('/connect-tokens')) {
    const { recipientId } = JSON.parse(call.body ?? '{}') as { recipientId?: string };
    return { status: 201, body: { token: `token-of-${recipientId}`, expiresAt: new Date(Date.now() + 3600_000).toISOString() } };
  }
  if (call.method === 'POST' && call.url.endsWith('/notifications/batch')) {
    const { notifications = [] } = JSON.parse(call.body ?? '{}') as { notifications?: unknown[] };
    const acceptedAt = new Date().toISOString();
    return {
      status: 202,
      body: {
        notifications: notifications.map((_, i) => ({ notificationId: `n-${k6.http.calls.length}-${i}`, status: 'ACCEPTED', acceptedAt })),
      },
    };
  }
  if (call.method === 'POST' && call.url.endsWith('/notifications')) {
    return { status: 202, body: { notificationId: `n-${k6.http.calls.length}`, status: 'ACCEPTED', acceptedAt: new Date().toISOString() } };
  }
  return { status: 404, body: { type: 'urn:pushflow:problem:not-found' } };
}

export const k6 = {
  phase: 'init' as Phase,
  http: { calls: [] as HttpCall[], answer: defaultAnswer as (call: HttpCall) => HttpAnswer },
  metrics: new Map<string, DeclaredMetric>(),
  checks: [] as CheckResult[],
  sleeps: [] as number[],
  timers: [] as Timer[],
  sockets: [] as SocketControl[],
  execution: null as ExecutionInfo | null,
  aborted: null as string | null,
};

/** A fresh k6 process about to load a script with these -e variables. */
export function resetK6(env: Record<string, string>): void {
  (globalThis as Record<string, unknown>).__ENV = { ...env };
  (globalThis as Record<string, unknown>).__VU = 0;
  (globalThis as Record<string, unknown>).__ITER = 0;
  k6.phase = 'init';
  k6.http.calls = [];
  k6.http.answer = defaultAnswer;
  k6.metrics = new Map();
  k6.checks = [];
  k6.sleeps = [];
  k6.timers = [];
  k6.sockets = [];
  k6.execution = null;
  k6.aborted = null;
}

/** Runs fn as VU code: k6 refuses some calls in the init context and others outside it. */
export function asVu<T>(execution: ExecutionInfo | null, fn: () => T): T {
  k6.phase = 'vu';
  k6.execution = execution;
  (globalThis as Record<string, unknown>).__VU = execution?.vu.idInTest ?? 0;
  return fn();
}

/** Fires every pending timer once, soonest first, as if their time had come. */
export function runTimers(): void {
  for (const timer of [...k6.timers].sort((a, b) => a.delayMs - b.delayMs)) {
    if (!timer.cleared) {
      if (!timer.repeat) timer.cleared = true;
      timer.run();
    }
  }
}

export function requireVuContext(what: string): void {
  if (k6.phase === 'init') throw new Error(`${what} in the init context is not supported`);
}

export function requireInitContext(what: string): void {
  if (k6.phase !== 'init') throw new Error(`${what} must be done in the init context`);
}

// Read by runtimes and test frameworks that probe any object; never a sign of a script bug.
const PROBED = new Set(['then', 'toJSON', 'constructor', 'inspect', 'nodeType', 'asymmetricMatch']);

/**
 * The object a script sees for a k6 object: reading a property k6's object does not have, or
 * adding one, throws, so a script that calls a function k6 lacks fails here as it would in k6
 * (where the call throws "not a function", or a misspelt handler silently never runs).
 */
export function strict<T extends object>(what: string, target: T): T {
  return new Proxy(target, {
    get(t, key) {
      if (typeof key === 'symbol' || key in t || PROBED.has(key)) return Reflect.get(t, key);
      throw new TypeError(`${what} has no '${key}' in k6`);
    },
    set(t, key, value) {
      if (typeof key !== 'symbol' && !(key in t)) throw new TypeError(`${what} has no '${key}' in k6; setting it does nothing there`);
      return Reflect.set(t, key, value);
    },
    defineProperty(_t, key) {
      throw new TypeError(`${what}: cannot define '${String(key)}'`);
    },
  });
}
