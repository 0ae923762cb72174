// Stub of k6/websockets (the browser WebSocket API on k6's event loop). The test plays the
// server through the SocketControl each new WebSocket registers in state.ts; the rules on
// arguments and states are k6's (internal/js/modules/k6/websockets/websockets.go).
import { k6, requireVuContext, strict, type SocketControl } from '../state.ts';

const CONNECTING = 0;
const OPEN = 1;
const CLOSING = 2;
const CLOSED = 3;
const EVENTS = ['open', 'message', 'error', 'close', 'ping', 'pong'] as const;
type EventName = (typeof EVENTS)[number];
type Handler = (event: unknown) => unknown;
const PARAMS = new Set(['headers', 'tags', 'jar', 'compression']);

function parseUrl(url: unknown): string {
  if (url === undefined || url === null) throw new Error('WebSocket requires a url');
  const text = String(url);
  const match = /^([a-z]+):\/\/[^/?#]+[^#]*(#.*)?$/i.exec(text);
  if (!match) throw new Error(`WebSocket requires valid url, but got "${text}"`);
  if (match[1] !== 'ws' && match[1] !== 'wss') throw new Error(`WebSocket requires url with scheme ws or wss, but got "${match[1]}"`);
  if (match[2]) throw new Error(`WebSocket requires no url fragment, but got "${match[2].slice(1)}"`);
  return text;
}

export class WebSocket {
  static readonly CONNECTING = CONNECTING;
  static readonly OPEN = OPEN;
  static readonly CLOSING = CLOSING;
  static readonly CLOSED = CLOSED;

  constructor(url: unknown, protocols?: unknown, params?: unknown) {
    // k6 needs the VU's state to dial: a WebSocket in the init context fails there too.
    requireVuContext('Creating a WebSocket');
    const href = parseUrl(url);
    if (protocols !== undefined && protocols !== null && typeof protocols !== 'string' && !Array.isArray(protocols)) {
      throw new TypeError('WebSocket: protocols must be a string or an array of strings');
    }
    if (params !== undefined && params !== null) {
      if (typeof params !== 'object') throw new TypeError('WebSocket: params must be an object');
      for (const key of Object.keys(params)) if (!PARAMS.has(key)) throw new TypeError(`WebSocket params have no '${key}' in k6`);
    }

    let readyState = CONNECTING;
    let binaryType = 'blob';
    let closeCode = 0;
    let closeReason = '';
    const on: Partial<Record<EventName, Handler | null>> = {};
    const listeners: Record<EventName, Handler[]> = { open: [], message: [], error: [], close: [], ping: [], pong: [] };
    const sent: string[] = [];
    let self: object;

    const event = (type: EventName, extra: Record<string, unknown> = {}) =>
      strict(`a WebSocket '${type}' event`, { type, target: self, timestamp: Date.now(), ...extra });
    const dispatch = (type: EventName, extra?: Record<string, unknown>) => {
      const e = event(type, extra);
      for (const handler of [on[type], ...listeners[type]]) if (handler) handler(e);
    };
    const closed = (error: string | null) => {
      if (readyState === CLOSED) return;
      readyState = CLOSED;
      if (error !== null) dispatch('error', { error });
      dispatch('close', { code: closeCode === 0 ? undefined : closeCode, reason: closeReason });
    };

    const target = {
      CONNECTING,
      OPEN,
      CLOSING,
      CLOSED,
      url: href,
      get readyState() {
        return readyState;
      },
      get bufferedAmount() {
        return 0;
      },
      get extensions() {
        return [];
      },
      get protocol() {
        return '';
      },
      get binaryType() {
        return binaryType;
      },
      set binaryType(value: string) {
        if (value !== 'blob' && value !== 'arraybuffer')
          throw new Error(`unknown binaryType ${value}, the supported ones are "blob" and "arraybuffer"`);
        binaryType = value;
      },
      send(data: unknown): void {
        if (readyState !== OPEN) throw new Error('InvalidStateError');
        if (typeof data === 'string') sent.push(data);
        else if (data instanceof ArrayBuffer || ArrayBuffer.isView(data)) sent.push('<binary>');
        else throw new Error(`unsupported send type ${typeof data}`);
      },
      ping(): void {
        if (readyState !== OPEN) throw new Error('InvalidStateError');
      },
      close(code?: number, reason?: string): void {
        if (readyState === CLOSED || readyState === CLOSING) return;
        const c = code === undefined ? 0 : Number(code);
        if (c !== 0 && c !== 1000 && !(c >= 3000 && c <= 4999)) {
          throw new Error(
            `InvalidAccessError: Failed to execute 'close' on 'WebSocket': The close code must be either 1000, or between 3000 and 4999. ${c} is neither`,
          );
        }
        if (reason !== undefined && Buffer.byteLength(String(reason)) > 123) {
          throw new Error(`SyntaxError: Failed to execute 'close' on 'WebSocket': The message must not be greater than 123 bytes`);
        }
        readyState = CLOSING;
        closeCode = c === 0 ? 1000 : c;
        control.closedByClient = { code: closeCode, reason: reason === undefined ? '' : String(reason) };
      },
      addEventListener(type: string, handler: unknown): void {
        if (typeof handler !== 'function') throw new TypeError(`handler for event type "${type}" isn't a callable function`);
        // k6 only logs a warning for an unknown event, whose handler then never runs: a bug.
        if (!(EVENTS as readonly string[]).includes(type)) throw new TypeError(`WebSocket has no '${type}' event in k6`);
        listeners[type as EventName].push(handler as Handler);
      },
    };
    for (const type of EVENTS) {
      Object.defineProperty(target, `on${type}`, {
        enumerable: true,
        get: () => on[type] ?? null,
        set: (handler: unknown) => {
          if (handler === null || handler === undefined) on[type] = null;
          else if (typeof handler === 'function') on[type] = handler as Handler;
          else throw new TypeError(`a value for 'on${type}' should be callable`);
        },
      });
    }
    self = strict('a WebSocket', target);

    const control: SocketControl = {
      url: href,
      params,
      sent,
      closedByClient: null,
      get readyState() {
        return readyState;
      },
      open() {
        if (readyState !== CONNECTING) throw new Error(`open(): the socket is in state ${readyState}`);
        readyState = OPEN;
        dispatch('open');
      },
      receive(text: string) {
        if (readyState !== OPEN) return; // k6 drops frames that arrive after close() started
        dispatch('message', { data: text, origin: href });
      },
      serverClose(code: number, reason = '') {
        closeCode = code;
        closeReason = reason;
        closed(code === 1000 || code === 1001 ? null : `websocket: close ${code} ${reason}`.trim());
      },
      finishClose() {
        if (readyState !== CLOSING) throw new Error('finishClose(): the script has not called close()');
        closed(null);
      },
    };
    k6.sockets.push(control);
    return self as WebSocket;
  }
}

export class Blob {
  constructor(parts?: unknown, options?: unknown) {
    if (parts !== undefined && !Array.isArray(parts)) throw new TypeError('Blob: parts must be an array');
    void options;
  }
}

export default strict('k6/websockets', { WebSocket, Blob });
