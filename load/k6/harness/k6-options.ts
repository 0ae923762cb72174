/**
 * What k6 checks (or would trip over) in a script's exported `options`, for the scenarios and
 * thresholds these scripts use: real executor names with their required fields, durations k6
 * parses, exec functions the script exports, thresholds on metrics that exist with aggregation
 * methods their type has. Answers the problems found, none for valid options.
 */
import type { MetricType } from './state.ts';

// The metrics k6 itself emits (k6 docs, "Built-in metrics").
export const BUILTIN_METRICS: Record<string, MetricType> = {
  checks: 'rate',
  data_received: 'counter',
  data_sent: 'counter',
  dropped_iterations: 'counter',
  iteration_duration: 'trend',
  iterations: 'counter',
  vus: 'gauge',
  vus_max: 'gauge',
  group_duration: 'trend',
  http_req_blocked: 'trend',
  http_req_connecting: 'trend',
  http_req_duration: 'trend',
  http_req_failed: 'rate',
  http_req_receiving: 'trend',
  http_req_sending: 'trend',
  http_req_tls_handshaking: 'trend',
  http_req_waiting: 'trend',
  http_reqs: 'counter',
  ws_connecting: 'trend',
  ws_msgs_received: 'counter',
  ws_msgs_sent: 'counter',
  ws_ping: 'trend',
  ws_session_duration: 'trend',
  ws_sessions: 'counter',
};

// Threshold aggregation methods by metric type (k6 docs, "Thresholds").
const AGGREGATIONS: Record<MetricType, RegExp> = {
  counter: /^(count|rate)$/,
  gauge: /^value$/,
  rate: /^rate$/,
  trend: /^(avg|min|max|med|p\(\d+(\.\d+)?\))$/,
};
const THRESHOLD = /^\s*([a-z]+(?:\(\d+(?:\.\d+)?\))?)\s*(<=|>=|===|==|!=|<|>)\s*(-?\d+(?:\.\d+)?(?:e[+-]?\d+)?)\s*$/;
const THRESHOLD_KEY = /^([a-zA-Z_][a-zA-Z0-9_]*)(?:\{([^{}]+)\})?$/;
const DURATION = /^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h|d))+$/;
const SCENARIO_NAME = /^[0-9A-Za-z_-]+$/;
const SUMMARY_STAT = /^(avg|min|med|max|count|p\((\d+(\.\d+)?)\))$/;

type Field = 'duration' | 'count' | 'positive' | 'stages' | 'string' | 'object';
interface Executor {
  required: string[];
  fields: Record<string, Field>;
}

const COMMON: Record<string, Field> = {
  executor: 'string',
  startTime: 'duration',
  gracefulStop: 'duration',
  exec: 'string',
  env: 'object',
  tags: 'object',
  options: 'object',
};
// k6 docs, "Executors": each one's options, and which are required.
const EXECUTORS: Record<string, Executor> = {
  'shared-iterations': { required: [], fields: { vus: 'positive', iterations: 'positive', maxDuration: 'duration' } },
  'per-vu-iterations': { required: [], fields: { vus: 'positive', iterations: 'positive', maxDuration: 'duration' } },
  'constant-vus': { required: ['duration'], fields: { vus: 'positive', duration: 'duration' } },
  'ramping-vus': { required: ['stages'], fields: { startVUs: 'count', stages: 'stages', gracefulRampDown: 'duration' } },
  'constant-arrival-rate': {
    required: ['duration', 'rate', 'preAllocatedVUs'],
    fields: { duration: 'duration', rate: 'positive', timeUnit: 'duration', preAllocatedVUs: 'count', maxVUs: 'positive' },
  },
  'ramping-arrival-rate': {
    required: ['stages', 'preAllocatedVUs'],
    fields: { startRate: 'count', timeUnit: 'duration', stages: 'stages', preAllocatedVUs: 'count', maxVUs: 'positive' },
  },
  'externally-controlled': { required: ['duration'], fields: { duration: 'duration', vus: 'count', maxVUs: 'positive' } },
};

// The k6 options a script may export (k6 docs, "Options reference"); an unknown one is ignored
// by k6, so a misspelt one silently does nothing.
const TOP_LEVEL = new Set([
  'scenarios',
  'thresholds',
  'summaryTrendStats',
  'summaryTimeUnit',
  'setupTimeout',
  'teardownTimeout',
  'discardResponseBodies',
  'noConnectionReuse',
  'noVUConnectionReuse',
  'userAgent',
  'insecureSkipTLSVerify',
  'batch',
  'batchPerHost',
  'httpDebug',
  'hosts',
  'dns',
  'tags',
  'systemTags',
  'throw',
  'noCookiesReset',
  'maxRedirects',
  'minIterationDuration',
  'rps',
  'blockHostnames',
  'blacklistIPs',
  'tlsAuth',
  'tlsCipherSuites',
  'tlsVersion',
  'localIPs',
  'cloud',
  'executionSegment',
  'executionSegmentSequence',
  'vus',
  'duration',
  'iterations',
  'stages',
  'noSetup',
  'noTeardown',
  'noUsageReport',
  'paused',
  'linger',
]);

function fieldProblem(kind: Field, value: unknown): string | null {
  switch (kind) {
    case 'duration':
      return (typeof value === 'string' && DURATION.test(value)) || (typeof value === 'number' && value >= 0)
        ? null
        : `is not a k6 duration: ${JSON.stringify(value)}`;
    case 'count':
      return Number.isInteger(value) && (value as number) >= 0 ? null : `must be a non-negative integer, got ${JSON.stringify(value)}`;
    case 'positive':
      return Number.isInteger(value) && (value as number) > 0 ? null : `must be a positive integer, got ${JSON.stringify(value)}`;
    case 'string':
      return typeof value === 'string' && value !== '' ? null : `must be a non-empty string, got ${JSON.stringify(value)}`;
    case 'object':
      return typeof value === 'object' && value !== null ? null : 'must be an object';
    case 'stages': {
      if (!Array.isArray(value) || value.length === 0) return 'must be a non-empty array of {duration, target}';
      for (const [i, stage] of value.entries()) {
        const s = stage as Record<string, unknown>;
        if (typeof s !== 'object' || s === null) return `[${i}] must be {duration, target}`;
        const extra = Object.keys(s).filter((k) => k !== 'duration' && k !== 'target');
        if (extra.length > 0) return `[${i}] has unknown fields ${extra.join(', ')}`;
        const d = fieldProblem('duration', s.duration);
        if (d) return `[${i}].duration ${d}`;
        const t = fieldProblem('count', s.target);
        if (t) return `[${i}].target ${t}`;
      }
      return null;
    }
  }
}

function scenarioProblems(name: string, scenario: unknown, exports: Record<string, unknown>): string[] {
  if (!SCENARIO_NAME.test(name)) return [`scenario name '${name}' may hold only letters, digits, _ and -`];
  if (typeof scenario !== 'object' || scenario === null) return [`scenario ${name} must be an object`];
  const s = scenario as Record<string, unknown>;
  const executor = EXECUTORS[String(s.executor)];
  if (executor === undefined) return [`scenario ${name}: '${String(s.executor)}' is not a k6 executor`];
  const problems: string[] = [];
  for (const field of executor.required) if (s[field] === undefined) problems.push(`scenario ${name}: ${s.executor} requires ${field}`);
  for (const [field, value] of Object.entries(s)) {
    const kind = executor.fields[field] ?? COMMON[field];
    if (kind === undefined) problems.push(`scenario ${name}: ${s.executor} has no option '${field}'`);
    else if (value !== undefined) {
      const problem = fieldProblem(kind, value);
      if (problem) problems.push(`scenario ${name}: ${field} ${problem}`);
    }
  }
  const exec = typeof s.exec === 'string' ? s.exec : 'default';
  if (typeof exports[exec] !== 'function') problems.push(`scenario ${name}: the script exports no function '${exec}'`);
  if (typeof s.maxVUs === 'number' && typeof s.preAllocatedVUs === 'number' && s.maxVUs < s.preAllocatedVUs) {
    problems.push(`scenario ${name}: maxVUs is below preAllocatedVUs`);
  }
  return problems;
}

function thresholdProblems(key: string, value: unknown, metrics: Map<string, MetricType>): string[] {
  const keyMatch = THRESHOLD_KEY.exec(key);
  if (!keyMatch) return [`threshold key '${key}' is not metric or metric{tag:value}`];
  const [, metric, filter] = keyMatch;
  const problems: string[] = [];
  const type = BUILTIN_METRICS[metric!] ?? metrics.get(metric!);
  if (type === undefined) return [`threshold on '${metric}': neither a k6 metric nor one the script declares`];
  if (filter !== undefined && !filter.split(',').every((pair) => /^\s*[a-zA-Z_][a-zA-Z0-9_]*\s*:\s*[^:]+$/.test(pair))) {
    problems.push(`threshold key '${key}': the tag filter must be {tag:value,...}`);
  }
  const list = Array.isArray(value) ? value : [value];
  if (list.length === 0) problems.push(`threshold '${key}' lists no expression`);
  for (const item of list) {
    const expression = typeof item === 'object' && item !== null ? (item as Record<string, unknown>).threshold : item;
    if (typeof item === 'object' && item !== null) {
      const extra = Object.keys(item).filter((k) => !['threshold', 'abortOnFail', 'delayAbortEval'].includes(k));
      if (extra.length > 0) problems.push(`threshold '${key}': unknown fields ${extra.join(', ')}`);
    }
    const match = typeof expression === 'string' ? THRESHOLD.exec(expression) : null;
    if (!match) {
      problems.push(`threshold '${key}': '${String(expression)}' is not '<aggregation> <operator> <number>'`);
      continue;
    }
    if (!AGGREGATIONS[type].test(match[1]!)) problems.push(`threshold '${key}': a ${type} has no '${match[1]}'`);
    const p = /^p\((.+)\)$/.exec(match[1]!);
    if (p && !(Number(p[1]) >= 0 && Number(p[1]) <= 100)) problems.push(`threshold '${key}': percentile ${p[1]} is not within 0-100`);
  }
  return problems;
}

export function optionsProblems(options: unknown, exports: Record<string, unknown>, declaredMetrics: Map<string, MetricType>): string[] {
  if (typeof options !== 'object' || options === null) return ['the script exports no options object'];
  const o = options as Record<string, unknown>;
  const problems: string[] = [];
  for (const key of Object.keys(o)) if (!TOP_LEVEL.has(key)) problems.push(`'${key}' is not a k6 option`);
  if (o.scenarios !== undefined) {
    if (typeof o.scenarios !== 'object' || o.scenarios === null) problems.push('scenarios must be an object');
    else for (const [name, s] of Object.entries(o.scenarios)) problems.push(...scenarioProblems(name, s, exports));
    for (const shortcut of ['vus', 'duration', 'iterations', 'stages']) {
      if (o[shortcut] !== undefined) problems.push(`'${shortcut}' next to scenarios is ignored by k6`);
    }
  }
  if (o.thresholds !== undefined) {
    if (typeof o.thresholds !== 'object' || o.thresholds === null) problems.push('thresholds must be an object');
    else for (const [key, value] of Object.entries(o.thresholds)) problems.push(...thresholdProblems(key, value, declaredMetrics));
  }
  if (o.summaryTrendStats !== undefined) {
    if (!Array.isArray(o.summaryTrendStats)) problems.push('summaryTrendStats must be an array');
    else
      for (const stat of o.summaryTrendStats)
        if (typeof stat !== 'string' || !SUMMARY_STAT.test(stat))
          problems.push(`summaryTrendStats: '${String(stat)}' is not a trend statistic`);
  }
  return problems;
}
