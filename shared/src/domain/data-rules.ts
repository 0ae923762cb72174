import { DATA_KEY_PATTERN } from './schemas.ts';

/**
 * The checks on a notification's free-form `data` that a JSON schema cannot make at every
 * depth: keys that could act as MongoDB operators or paths (`$…`, `a.b`) or reach an
 * object's prototype (`__proto__`, `constructor`, `prototype`), nesting depth, and size as
 * JSON. `data` is stored in MongoDB, put on Redis streams and merged into client frames, so
 * a key is refused wherever it sits, not only at the top.
 */
export interface DataRules {
  maxBytes: number;
  /** Levels of objects and arrays, `data` itself being the first. */
  maxDepth: number;
}

export interface DataViolation {
  /** JSON Pointer (RFC 6901) into `data`; '' is `data` itself. */
  path: string;
  message: string;
}

const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);
const keyPattern = new RegExp(DATA_KEY_PATTERN, 'u');

/** The first rule `data` breaks, or undefined. Safe on any JSON value, however deep. */
export function checkData(data: unknown, rules: DataRules): DataViolation | undefined {
  // Depth first: it bounds the recursion here and makes JSON.stringify below safe.
  const shape = checkShape(data, '', 1, rules.maxDepth);
  if (shape) return shape;
  const bytes = Buffer.byteLength(JSON.stringify(data) ?? '', 'utf8');
  if (bytes > rules.maxBytes) return { path: '', message: `must be at most ${rules.maxBytes} bytes as JSON (is ${bytes})` };
  return undefined;
}

function checkShape(value: unknown, path: string, depth: number, maxDepth: number): DataViolation | undefined {
  if (value === null || typeof value !== 'object') return undefined;
  if (depth > maxDepth) return { path, message: `must not nest objects or arrays more than ${maxDepth} levels deep` };
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = checkShape(value[i], `${path}/${i}`, depth + 1, maxDepth);
      if (found) return found;
    }
    return undefined;
  }
  // Own keys only, `__proto__` included: JSON.parse makes it an own property.
  for (const key of Object.keys(value)) {
    const at = `${path}/${pointerToken(key)}`;
    const refused = keyProblem(key);
    if (refused) return { path: at, message: refused };
    const found = checkShape((value as Record<string, unknown>)[key], at, depth + 1, maxDepth);
    if (found) return found;
  }
  return undefined;
}

function keyProblem(key: string): string | undefined {
  if (FORBIDDEN_KEYS.has(key)) return `key "${key}" is not allowed`;
  if (!keyPattern.test(key)) return 'keys must not start with "$", contain ".", be empty or be over 128 characters';
  return undefined;
}

function pointerToken(key: string): string {
  return key.replaceAll('~', '~0').replaceAll('/', '~1');
}
