// PushFlow demo client: a page that uses @pushflow/client, the client library (client/ in
// this repository, docs/clients.md), as an application's page would.
//
// The library connects, reconnects with backoff and jitter, refreshes or gives up on the
// close codes that call for it, drops repeated notifications and acks; this file only draws
// what it reports. The delivery node serves this script as /demo/client.js, with the import
// below pointing at the library's ES module, /demo/pushflow-client.js (delivery/src/demo-page.ts).
// The WebSocket protocol underneath is in docs/api.md, "WebSocket protocol".

import { connect, type PushFlowClient, type PushNotification, type StateChange } from '@pushflow/client';

/** The page's states: the library's three, with `closed` split by what comes next. */
type PageState = 'idle' | 'connecting' | 'open' | 'waiting' | 'stopped' | 'closed';

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

const STATE_TEXT: Record<PageState, string> = {
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
  let client: PushFlowClient | undefined;
  let connects = 0;

  function log(text: string): void {
    const li = document.createElement('li');
    li.textContent = `${new Date().toLocaleTimeString()} ${text}`;
    logList.prepend(li);
    while (logList.children.length > 50) logList.lastElementChild?.remove();
  }

  function setState(state: PageState, detail: string): void {
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

  /** What the library says about the connection, as the page shows it. */
  function onState({ state, attempt, code, reason, retryInMs, error }: StateChange): void {
    const closed = `closed ${code}${reason ? ` (${reason})` : ''}`;
    if (state === 'connecting') {
      setState('connecting', attempt === 0 ? '' : `attempt ${attempt + 1}`);
    } else if (state === 'open') {
      log('connected');
      setState('open', '');
    } else if (retryInMs !== undefined) {
      log(`${closed}: reconnecting in ${retryInMs} ms`);
      setState('waiting', `reconnecting in ${(retryInMs / 1000).toFixed(1)} s`);
    } else if (error) {
      log(`${closed}: not reconnecting`);
      setState('stopped', `${code}: ${error.message}`);
    } else {
      log('disconnected');
      setState('closed', '');
    }
  }

  function showNotification(frame: PushNotification): void {
    const receivedAt = Date.now();
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
    client?.close();
    const sub = tokenSubject(token);
    $('recipient').textContent = sub ? `as ${sub}` : '';
    connects = 0;
    // The node serving this page: ws:// or wss:// on its own host (the library takes http(s) for ws(s)).
    client = connect({ url: window.location.origin, token });
    client.addEventListener('state', (event) => onState(event.detail));
    client.addEventListener('notification', (event) => showNotification(event.detail));
    client.addEventListener('error', (event) => log(`error ${event.detail.code}: ${event.detail.message}`));
  });

  disconnectButton.addEventListener('click', () => {
    client?.close();
    client = undefined;
  });
}

if (typeof document !== 'undefined') startPage();
