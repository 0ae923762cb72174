// PushFlow demo client: the reference for a raw WebSocket client of a delivery node.
//
// Everything a client needs is in the first half of this file (connect, receive, ack,
// reconnect, close codes); the second half only draws the page. No library, no build step:
// a browser's WebSocket is all it takes. The protocol is in the README, "WebSocket protocol"
// and "Errors and close codes".

// ---- The client -------------------------------------------------------------------------

/**
 * Close codes after which reconnecting cannot help. Any other close (a node shutting down,
 * a lost network, a slow-consumer close) is worth a reconnect with backoff.
 */
const FINAL_CLOSES = new Map([
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
export function backoffDelay(attempt, random = Math.random) {
  const bound = Math.min(MAX_MS, BASE_MS * 2 ** attempt);
  return Math.round(random() * bound);
}

/** ws://host/ws on the page's own host (wss:// when the page came over https). */
export function socketUrl(token, location = window.location) {
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
export function connectClient(token, { onState, onNotification, onLog }) {
  let ws;
  let attempt = 0;
  let retryTimer;
  let stopped = false;
  let openedAt = 0;

  function open() {
    onState('connecting', attempt === 0 ? '' : `attempt ${attempt + 1}`);
    ws = new WebSocket(socketUrl(token));

    ws.onopen = () => {
      openedAt = Date.now();
      onState('open', '');
      onLog('connected');
    };

    ws.onmessage = (event) => {
      const receivedAt = Date.now();
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        onLog('ignored a frame that is not JSON');
        return;
      }
      // Frames are typed; skip types this client does not know, so the server can add some.
      if (frame.type === 'notification') onNotification(frame, receivedAt);
    };

    // The browser fires `error` and then `close`; everything is decided in `close`, which
    // carries the code. A refused upgrade (HTTP 403 for a page from an origin not in
    // PUSHFLOW_ALLOWED_ORIGINS) shows only as 1006, like a network failure.
    ws.onerror = () => {};

    ws.onclose = (event) => {
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
      retryTimer = setTimeout(open, delay);
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
    ack(notificationId) {
      if (!ws || ws.readyState !== WebSocket.OPEN) return false;
      ws.send(JSON.stringify({ type: 'ack', notificationId }));
      return true;
    },
    /** Closes for good. Handlers are detached first, so a later client's page state is its own. */
    stop() {
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
export function tokenSubject(token) {
  try {
    const payload = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    return JSON.parse(atob(payload)).sub;
  } catch {
    return undefined;
  }
}

// ---- The page ---------------------------------------------------------------------------

const STATE_TEXT = {
  idle: 'not connected',
  connecting: 'connecting',
  open: 'connected',
  waiting: 'disconnected',
  stopped: 'stopped',
  closed: 'closed',
};

function startPage() {
  const $ = (id) => document.getElementById(id);
  const form = $('connect-form');
  const tokenField = $('token');
  const connectButton = $('connect');
  const disconnectButton = $('disconnect');
  const autoAck = $('auto-ack');
  const stateEl = $('state');
  const list = $('notifications');
  const template = $('notification-template');
  let client;
  let connects = 0;

  function log(text) {
    const li = document.createElement('li');
    li.textContent = `${new Date().toLocaleTimeString()} ${text}`;
    $('log').prepend(li);
    while ($('log').children.length > 50) $('log').lastElementChild.remove();
  }

  function setState(state, detail) {
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

  function showNotification(frame, receivedAt) {
    const item = template.content.firstElementChild.cloneNode(true);
    item.dataset.notificationId = frame.notificationId;
    // textContent, never innerHTML: a notification's text comes from whoever called the API.
    item.querySelector('.title').textContent = frame.title ?? '(no title)';
    item.querySelector('.body').textContent = frame.body ?? '';
    item.querySelector('.data').textContent = frame.data === undefined ? '' : JSON.stringify(frame.data);
    item.querySelector('.id').textContent = frame.notificationId;
    const latency = receivedAt - Date.parse(frame.acceptedAt);
    item.querySelector('.latency').textContent = Number.isFinite(latency) ? `${latency} ms` : '';
    const button = item.querySelector('.ack');
    const ack = () => {
      if (client?.ack(frame.notificationId)) {
        button.hidden = true;
        item.querySelector('.acked').hidden = false;
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
