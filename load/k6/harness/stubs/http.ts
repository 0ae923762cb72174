// Stub of k6/http: requests are recorded in state.ts and answered by k6.http.answer, with
// k6's rules on arguments (a plain object body is sent form-encoded, as k6 does; requests in
// the init context are refused).
import { k6, requireVuContext, strict, type HttpCall } from '../state.ts';

// The keys k6 reads from a request's params. k6 ignores others, so a misspelt one silently loses
// what it meant ('header' would drop the Authorization): here it is an error.
const PARAMS = new Set([
  'auth',
  'cookies',
  'headers',
  'jar',
  'compression',
  'redirects',
  'tags',
  'timeout',
  'responseType',
  'responseCallback',
]);

function bodyText(body: unknown): string | null {
  if (body === undefined || body === null) return null;
  if (typeof body === 'string') return body;
  if (body instanceof ArrayBuffer) return Buffer.from(body).toString('utf8');
  if (typeof body === 'object') {
    return Object.entries(body as Record<string, unknown>)
      .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`)
      .join('&');
  }
  throw new TypeError(`unsupported request body of type ${typeof body}`);
}

function response(call: HttpCall) {
  const answer = k6.http.answer(call);
  const body = answer.body === undefined ? '' : typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body);
  return strict('an http Response', {
    status: answer.status,
    status_text: `${answer.status}`,
    body,
    headers: { 'Content-Type': 'application/json' },
    url: call.url,
    proto: 'HTTP/1.1',
    error: answer.error ?? '',
    error_code: answer.error ? 1000 : 0,
    remote_ip: '127.0.0.1',
    remote_port: 3000,
    cookies: {},
    tls_version: '',
    tls_cipher_suite: '',
    ocsp: {},
    timings: { blocked: 0, connecting: 0, tls_handshaking: 0, sending: 0, waiting: 1, receiving: 0, duration: 1 },
    request: { method: call.method, url: call.url, body: call.body ?? '', headers: call.headers, cookies: {} },
    json(selector?: string): unknown {
      if (selector !== undefined) throw new Error('the stub does not model json() selectors');
      return JSON.parse(body);
    },
    html(): never {
      throw new Error('the stub does not model html()');
    },
    clickLink(): never {
      throw new Error('the stub does not model clickLink()');
    },
    submitForm(): never {
      throw new Error('the stub does not model submitForm()');
    },
  });
}

export function request(method: string, url: unknown, body?: unknown, params?: unknown) {
  requireVuContext('Making http requests');
  if (typeof method !== 'string' || method === '') throw new TypeError('request: the method must be a string');
  if (typeof url !== 'string') throw new TypeError(`request: the url must be a string, got ${typeof url}`);
  if (!/^https?:\/\/[^/]/.test(url)) throw new Error(`unsupported protocol scheme or invalid URL '${url}'`);
  if (params !== undefined && params !== null && typeof params !== 'object') throw new TypeError('request: params must be an object');
  const p = (params ?? {}) as Record<string, unknown>;
  for (const key of Object.keys(p)) if (!PARAMS.has(key)) throw new TypeError(`request params have no '${key}' in k6`);
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries((p.headers ?? {}) as Record<string, unknown>)) headers[k] = String(v);
  if (
    typeof body === 'object' &&
    body !== null &&
    !(body instanceof ArrayBuffer) &&
    !Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')
  ) {
    headers['Content-Type'] = 'application/x-www-form-urlencoded';
  }
  const tags = (p.tags ?? {}) as Record<string, string>;
  const call: HttpCall = { method: method.toUpperCase(), url, body: bodyText(body), headers, tags };
  k6.http.calls.push(call);
  return response(call);
}

export const get = (url: unknown, params?: unknown) => request('GET', url, null, params);
export const head = (url: unknown, params?: unknown) => request('HEAD', url, null, params);
export const post = (url: unknown, body?: unknown, params?: unknown) => request('POST', url, body, params);
export const put = (url: unknown, body?: unknown, params?: unknown) => request('PUT', url, body, params);
export const patch = (url: unknown, body?: unknown, params?: unknown) => request('PATCH', url, body, params);
export const del = (url: unknown, body?: unknown, params?: unknown) => request('DELETE', url, body, params);
export const options = (url: unknown, body?: unknown, params?: unknown) => request('OPTIONS', url, body, params);

export function batch(requests: unknown): unknown {
  if (!Array.isArray(requests)) throw new Error('the stub models batch() with an array of requests only');
  return requests.map((r) => {
    if (Array.isArray(r)) return request(String(r[0]), r[1], r[2], r[3]);
    if (typeof r === 'object' && r !== null) {
      const { method, url, body, params } = r as Record<string, unknown>;
      return request(String(method), url, body, params);
    }
    throw new TypeError('batch: each request is an array or an object');
  });
}

export function asyncRequest(method: string, url: unknown, body?: unknown, params?: unknown) {
  try {
    return Promise.resolve(request(method, url, body, params));
  } catch (e) {
    return Promise.reject(e);
  }
}

export function expectedStatuses(...statuses: unknown[]): unknown {
  return { statuses };
}

export function setResponseCallback(callback: unknown): void {
  if (callback !== null && typeof callback !== 'object')
    throw new TypeError('setResponseCallback takes http.expectedStatuses(...) or null');
}

export function file(data: unknown, filename?: string, contentType?: string): unknown {
  return { data, filename, content_type: contentType ?? 'application/octet-stream' };
}

export function cookieJar(): never {
  throw new Error('the stub does not model cookieJar()');
}

export const TLS_1_0 = 'tls1.0';
export const TLS_1_1 = 'tls1.1';
export const TLS_1_2 = 'tls1.2';
export const TLS_1_3 = 'tls1.3';
export const OCSP_STATUS_GOOD = 'good';
export const OCSP_STATUS_REVOKED = 'revoked';
export const OCSP_STATUS_UNKNOWN = 'unknown';

export default strict('k6/http', {
  request,
  get,
  head,
  post,
  put,
  patch,
  del,
  options,
  batch,
  asyncRequest,
  expectedStatuses,
  setResponseCallback,
  file,
  cookieJar,
  TLS_1_0,
  TLS_1_1,
  TLS_1_2,
  TLS_1_3,
  OCSP_STATUS_GOOD,
  OCSP_STATUS_REVOKED,
  OCSP_STATUS_UNKNOWN,
});
