// Stub of k6/metrics: Counter, Gauge, Rate, Trend, declared in the init context and added to
// in VU code, as k6 requires.
import { k6, requireInitContext, requireVuContext, strict, type MetricType } from '../state.ts';

// k6 warns about, and Prometheus-style outputs cannot take, other names.
const NAME = /^[a-zA-Z_][a-zA-Z0-9_]{0,127}$/;

function declare(type: MetricType, name: unknown, isTime: unknown) {
  requireInitContext('Declaring a custom metric');
  if (typeof name !== 'string' || !NAME.test(name)) throw new Error(`invalid metric name '${String(name)}'`);
  const existing = k6.metrics.get(name);
  if (existing && existing.type !== type) throw new Error(`metric '${name}' already exists with type ${existing.type}`);
  const metric = existing ?? { type, isTime: Boolean(isTime), samples: [] };
  k6.metrics.set(name, metric);
  const add = (value: unknown, tags?: Record<string, string>): void => {
    requireVuContext(`Adding to metric '${name}'`);
    if (tags !== undefined && (typeof tags !== 'object' || tags === null)) throw new TypeError(`${name}.add: tags must be an object`);
    let sample: number;
    if (type === 'rate') sample = value ? 1 : 0;
    else if (typeof value === 'number' && Number.isFinite(value)) sample = value;
    else if (typeof value === 'boolean') sample = value ? 1 : 0;
    // k6 would record NaN (or refuse it), spoiling every statistic of the metric: a script bug.
    else throw new TypeError(`${name}.add: expected a number, got ${String(value)}`);
    metric.samples.push({ value: sample, tags });
  };
  return strict(`${type} metric '${name}'`, { name, add });
}

export class Counter {
  constructor(name: string, isTime?: boolean) {
    return declare('counter', name, isTime);
  }
}
export class Gauge {
  constructor(name: string, isTime?: boolean) {
    return declare('gauge', name, isTime);
  }
}
export class Rate {
  constructor(name: string, isTime?: boolean) {
    return declare('rate', name, isTime);
  }
}
export class Trend {
  constructor(name: string, isTime?: boolean) {
    return declare('trend', name, isTime);
  }
}

export default strict('k6/metrics', { Counter, Gauge, Rate, Trend });
