// PushFlow demo client: the reference for a raw WebSocket client of a delivery node.
//
// Everything a client needs is in the first half of this file (connect, receive, ack,
// reconnect, close codes); the second half only draws the page. No library: a browser's
// WebSocket is all it takes. The protocol is in docs/api.md, "WebSocket protocol" and "Errors
// and close codes". This is TypeScript for the types the protocol has; the delivery node
// strips them when it starts (esbuild) and serves the result as /demo/client.js.

// ---- The client -------------------------------------------------------------------------

/** What the node sends: one frame per notification (docs/api.md, "WebSocket protocol"). */
export interface NotificationFrame {
  type: 'notification';
  notificationId: string;
  title?: string;
  body?: string;
  data?: Record<string, unknown>;
  /** When the gateway accepted it (ISO 8601): the latency shown is received minus this. */
  acceptedAt: string;
}

/** What the client sends: an ack of a notification this socket received. */
export interface AckFrame {
  type: 'ack';
  notificationId: string;
}

/** idle before the first connect; stopped after a final close; closed after stop(). */
export type ClientState = 'idle' | 'connecting' | 'open' | 'waiting' | 'stopped' | 'closed';

export interface ClientCallbacks {
  onState(state: ClientState, detail: string): void;
  onNotification(frame: NotificationFrame, receivedAt: number): void;
  onLog(text: string): void;
}

export interface Client {
  ack(notificationId: string): boolean;
  stop(): void;
}

/**
 * Close codes after which reconnecting cannot help. Any other close (a node shutting down,
 * a lost network, a slow-consumer close) is worth a reconnect with backoff.
 */
const FINAL_CLOSES = new Map<number, string>([
  // The token is bad (signature, algorithm, claims): the same token will always fail.
  [4001, 'token invalid: get a new token from your application'],
  // The token expired: a fresh token is needed, then connect again.
  [4003, 'token expired: get a fresh token and connect again'],
  // Both are bugs in the client; retrying would only repeat them.
  [1003, 'the client sent a binary frame'],
  [1009, 'the client sent a frame that is too large'],
  // This user already holds the most sockets a node allows: a retry loop would fight the
  // user's other tabs and devices for a slot.
  [4009, 'too many connections for this user on this node: close the others'],
]);

/** Backoff: the first retry waits up to BASE_MS, each next one doubles, up to MAX_MS. */
const BASE_MS = 500;
const MAX_MS = 30_000;
/** A connection that stayed open this long was a success: the next failure starts over at BASE_MS. */
const STABLE_MS = 10_000;

/**
 * "Full jitter": a random delay between 0 and the exponential bound. When a node restarts,
 * every client it had reconnects; without jitter they would all come back in the same
 * instant, each round, and knock the next node over.
 */
export function backoffDelay(attempt: number, random: () => number = Math.random): number {
  const bound = Math.min(MAX_MS, BASE_MS * 2 ** attempt);
  return Math.round(random() * bound);
}

/** ws://host/ws on the page's own host (wss:// when the page came over https). */
export function socketUrl(token: string, location: Pick<Location, 'href' | 'protocol'> = window.location): string {
  const url = new URL('/ws', location.href);
  url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
  // The token is the only credential; it travels in the query string because a browser's
  // WebSocket cannot set an Authorization header. The node never logs it.
  url.searchParams.set('token', token);
  return url.href;
}

/**
 * Connects and stays connected until stopped or told not to retry. Callbacks:
 * onState(state, detail), onNotification(frame, receivedAt), onLog(text).
 * Returns { ack(notificationId), stop() }.
 */
export function connectClient(token: string, { onState, onNotification, onLog }: ClientCallbacks): Client {
  let ws: WebSocket | undefined;
  let attempt = 0;
  let retryTimer: number | undefined;
  let stopped = false;
  let openedAt = 0;

  function open(): void {
    onState('connecting', attempt === 0 ? '' : `attempt ${attempt + 1}`);
    const socket = new WebSocket(socketUrl(token));
    ws = socket;

    socket.onopen = () => {
      openedAt = Date.now();
      onState('open', '');
      onLog('connected');
    };

    socket.onmessage = (event: MessageEvent<string>) => {
      const receivedAt = Date.now();
      let frame: { type?: unknown } | null;
      try {
        frame = JSON.parse(event.data) as { type?: unknown } | null;
      } catch {
        onLog('ignored a frame that is not JSON');
        return;
      }
      // Frames are typed; skip types this client does not know, so the server can add some.
      if (frame?.type === 'notification') onNotification(frame as NotificationFrame, receivedAt);
    };

    // The browser fires `error` and then `close`; everything is decided in `close`, which
    // carries the code. A refused upgrade (HTTP 403 for a page from an origin not in
    // PUSHFLOW_ALLOWED_ORIGINS) shows only as 1006, like a network failure.
    socket.onerror = () => {};

    socket.onclose = (event: CloseEvent) => {
      ws = undefined;
      const why = `closed ${event.code}${event.reason ? ` (${event.reason})` : ''}`;
      const final = FINAL_CLOSES.get(event.code);
      if (final) {
        stopped = true;
        onState('stopped', `${event.code}: ${final}`);
        onLog(`${why}: not reconnecting`);
        return;
      }
      if (openedAt && Date.now() - openedAt >= STABLE_MS) attempt = 0;
      openedAt = 0;
      const delay = backoffDelay(attempt);
      attempt++;
      onState('waiting', `reconnecting in ${(delay / 1000).toFixed(1)} s`);
      onLog(`${why}: reconnecting in ${delay} ms`);
      retryTimer = window.setTimeout(open, delay);
    };
  }

  // Pings: the node pings every socket and closes one silent for 60 s. Browsers answer
  // pings by themselves (and never show them to scripts), so there is nothing to do here. A
  // client on a WebSocket library that does not answer pings must send pongs itself, or
  // send any frame, to stay connected.

  open();
  return {
    /**
     * Tells the node the notification arrived; its status becomes ACKNOWLEDGED. Only an
     * open socket can ack, and only notifications it was sent: the node ignores the rest.
     */
    ack(notificationId: string): boolean {
      if (!ws || ws.readyState !== WebSocket.OPEN) return false;
      const frame: AckFrame = { type: 'ack', notificationId };
      ws.send(JSON.stringify(frame));
      return true;
    },
    /** Closes for good. Handlers are detached first, so a later client's page state is its own. */
    stop(): void {
      if (stopped) return;
      stopped = true;
      clearTimeout(retryTimer);
      if (ws) {
        ws.onclose = null;
        ws.onmessage = null;
        ws.close(1000, 'bye');
        ws = undefined;
      }
      onState('closed', '');
      onLog('disconnected');
    },
  };
}

/** The `sub` claim, only to show whose token it is; the node is what verifies tokens. */
export function tokenSubject(token: string): string | undefined {
  try {
    const payload = (token.split('.')[1] ?? '').replace(/-/g, '+').replace(/_/g, '/');
    const sub: unknown = (JSON.parse(atob(payload)) as { sub?: unknown }).sub;
    return typeof sub === 'string' ? sub : undefined;
  } catch {
    return undefined;
  }
}

// ---- The page ---------------------------------------------------------------------------

const STATE_TEXT: Record<ClientState, string> = {
  idle: 'not connected',
  connecting: 'connecting',
  open: 'connected',
  waiting: 'disconnected',
  stopped: 'stopped',
  closed: 'closed',
};

/**
 * The element with this id, as the type demo.html gives it: a missing one is a broken page,
 * so it throws at start rather than later in a handler.
 */
function byId<T extends HTMLElement = HTMLElement>(id: string, type?: new () => T): T {
  const el = document.getElementById(id);
  if (!el || (type && !(el instanceof type))) throw new Error(`demo.html has no ${type?.name ?? 'element'} #${id}`);
  return el as T;
}

/** The first element matching `selector` in `root`, which the template always has. */
function part(root: ParentNode, selector: string): HTMLElement {
  const el = root.querySelector<HTMLElement>(selector);
  if (!el) throw new Error(`the notification template has no ${selector}`);
  return el;
}

function startPage(): void {
  const $ = byId;
  const form = $('connect-form', HTMLFormElement);
  const tokenField = $('token', HTMLTextAreaElement);
  const connectButton = $('connect', HTMLButtonElement);
  const disconnectButton = $('disconnect', HTMLButtonElement);
  const autoAck = $('auto-ack', HTMLInputElement);
  const stateEl = $('state');
  const list = $('notifications');
  const template = $('notification-template', HTMLTemplateElement);
  const logList = $('log');
  let client: Client | undefined;
  let connects = 0;

  function log(text: string): void {
    const li = document.createElement('li');
    li.textContent = `${new Date().toLocaleTimeString()} ${text}`;
    logList.prepend(li);
    while (logList.children.length > 50) logList.lastElementChild?.remove();
  }

  function setState(state: ClientState, detail: string): void {
    stateEl.dataset.state = state;
    stateEl.textContent = detail ? `${STATE_TEXT[state]}: ${detail}` : STATE_TEXT[state];
    if (state === 'open') {
      connects++;
      $('connects').textContent = String(connects);
      $('reconnects').textContent = String(Math.max(0, connects - 1));
    }
    const active = state !== 'stopped' && state !== 'closed' && state !== 'idle';
    connectButton.disabled = active;
    disconnectButton.disabled = !active;
  }

  function showNotification(frame: NotificationFrame, receivedAt: number): void {
    const item = template.content.firstElementChild?.cloneNode(true);
    if (!(item instanceof HTMLElement)) throw new Error('the notification template is empty');
    item.dataset.notificationId = frame.notificationId;
    // textContent, never innerHTML: a notification's text comes from whoever called the API.
    part(item, '.title').textContent = frame.title ?? '(no title)';
    part(item, '.body').textContent = frame.body ?? '';
    part(item, '.data').textContent = frame.data === undefined ? '' : JSON.stringify(frame.data);
    part(item, '.id').textContent = frame.notificationId;
    const latency = receivedAt - Date.parse(frame.acceptedAt);
    part(item, '.latency').textContent = Number.isFinite(latency) ? `${latency} ms` : '';
    const button = part(item, '.ack');
    const ack = (): void => {
      if (client?.ack(frame.notificationId)) {
        button.hidden = true;
        part(item, '.acked').hidden = false;
        item.classList.add('is-acked');
      } else {
        log('cannot ack: not connected');
      }
    };
    button.addEventListener('click', ack);
    $('empty').hidden = true;
    list.prepend(item);
    if (autoAck.checked) ack();
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const token = tokenField.value.trim();
    if (!token) return;
    client?.stop();
    const sub = tokenSubject(token);
    $('recipient').textContent = sub ? `as ${sub}` : '';
    connects = 0;
    client = connectClient(token, { onState: setState, onNotification: showNotification, onLog: log });
  });

  disconnectButton.addEventListener('click', () => {
    client?.stop();
    client = undefined;
  });
}

if (typeof document !== 'undefined') startPage();
