// PushFlow dashboard: polls the gateway's /dashboard/api/ endpoints once a second with the
// API key the operator typed in, and draws what they say. No framework; TypeScript for the
// shapes of the JSON it reads (docs/operations.md, "Dashboard"), stripped by the gateway when it starts
// (esbuild) and served as /dashboard/app.js. The page's CSP allows scripts and requests to
// this origin only, so everything a notification carries is written with textContent, never
// as HTML.

// ---- what /dashboard/api/ and /notifications/:id/status answer ----------------------------

interface ThroughputPoint {
  /** The second (epoch ms) these events fall in. */
  t: number;
  accepted: number;
  delivered: number;
  failed: number;
  acknowledged: number;
}

interface LedgerWindow {
  from: number;
  to: number;
  /** Ledger events read; `truncated` when the window held more than one read may return. */
  events: number;
  truncated: boolean;
}

interface Activity extends LedgerWindow {
  counts: { byStatus: Record<string, number>; byReason: Record<string, number> };
  throughput: ThroughputPoint[];
}

interface RecentNotification {
  notificationId: string;
  recipientId?: string;
  title?: string;
  status: string;
  reason?: string;
  acceptedAt?: number;
  updatedAt: number;
}

interface Recent extends LedgerWindow {
  notifications: RecentNotification[];
}

interface StreamGroup {
  stream: string;
  group: string;
  /** Entries the group has not read yet; null when Redis cannot tell. */
  lag: number | null;
  pending: number;
}

interface DeliveryNode {
  nodeId: string;
  lastHeartbeatAt: number;
  alive: boolean;
  /** null when the node has not reported a count with its heartbeat. */
  connections: number | null;
}

interface StatusHistoryEntry {
  status: string;
  at: string;
  reason?: string;
  nodeId?: string;
}

interface NotificationStatus {
  notificationId: string;
  recipientId: string;
  status: string;
  reason?: string;
  acceptedAt: string;
  history: StatusHistoryEntry[];
}

/** An RFC 9457 problem, what the gateway answers an error with. */
interface Problem {
  title?: string;
  detail?: string;
}

type Series = 'accepted' | 'delivered' | 'failed' | 'acknowledged';

// ---- state ----------------------------------------------------------------------------------

const POLL_MS = 1000;
const SERIES: readonly Series[] = ['accepted', 'delivered', 'failed', 'acknowledged'];
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
// Only this tab remembers the key, and only until it closes.
const KEY_STORAGE = 'pushflow.apiKey';

/**
 * The element with this id, as the type dashboard.html gives it: a missing one is a broken
 * page, so it throws where it is first used rather than drawing half a dashboard.
 */
function $<T extends HTMLElement = HTMLElement>(id: string, type?: new () => T): T {
  const el = document.getElementById(id);
  if (!el || (type && !(el instanceof type))) throw new Error(`dashboard.html has no ${type?.name ?? 'element'} #${id}`);
  return el as T;
}

let apiKey = sessionStorage.getItem(KEY_STORAGE) ?? '';
let pollTimer: number | undefined;
let polling = false;
/** Bumped by every (re)start: a poll still in flight from before does not schedule another. */
let generation = 0;
let query = '';

class Unauthorized extends Error {}

const TIME = new Intl.DateTimeFormat(undefined, {
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
  fractionalSecondDigits: 3,
  hour12: false,
});

/** The JSON at `path`, trusted to be a `T`: the gateway's own endpoints, in its OpenAPI document. */
async function getJson<T>(path: string): Promise<T> {
  const res = await fetch(path, { headers: { authorization: `Bearer ${apiKey}` }, cache: 'no-store' });
  if (res.status === 401) throw new Unauthorized('the API key was refused');
  const body: unknown = await res.json().catch(() => undefined);
  if (!res.ok) {
    const problem = body as Problem | undefined;
    throw new Error(problem?.detail ?? problem?.title ?? `HTTP ${res.status}`);
  }
  return body as T;
}

/** What went wrong, for the page: an Error's message, anything else as text. */
function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function setLive(state: 'idle' | 'live' | 'error', text: string): void {
  $('live').dataset.state = state;
  $('live').textContent = text;
}

// ---- polling ------------------------------------------------------------------------------

/** One poll at a time: the next is scheduled when this one is done, so a slow gateway is not piled on. */
async function poll(gen = generation): Promise<void> {
  if (!polling || gen !== generation) return;
  const minutes = $('minutes', HTMLSelectElement).value;
  const search = new URLSearchParams({ minutes, limit: '50' });
  if (query) search.set('q', query);
  try {
    const [activity, recent, streams, nodes] = await Promise.all([
      getJson<Activity>(`/dashboard/api/activity?minutes=${minutes}`),
      getJson<Recent>(`/dashboard/api/notifications?${search}`),
      getJson<{ groups: StreamGroup[] }>('/dashboard/api/streams'),
      getJson<{ nodes: DeliveryNode[] }>('/dashboard/api/nodes'),
    ]);
    // A newer poll (another search) owns the page now.
    if (gen !== generation) return;
    drawCounts(activity);
    drawChart(activity.throughput);
    drawRecent(recent.notifications);
    drawStreams(streams.groups);
    drawNodes(nodes.nodes);
    setLive('live', `live · ${new Date().toLocaleTimeString()}`);
  } catch (err) {
    if (gen !== generation) return;
    if (err instanceof Unauthorized) {
      stop();
      setLive('error', 'API key refused');
      $('main').hidden = true;
      return;
    }
    setLive('error', `cannot read: ${messageOf(err)}; retrying`);
  }
  if (polling && gen === generation) pollTimer = window.setTimeout(() => void poll(gen), POLL_MS);
}

/** Now, not at the next tick (a new search or window); a poll in flight is superseded. */
function pollNow(): void {
  if (!polling) return;
  clearTimeout(pollTimer);
  generation++;
  void poll();
}

function start(): void {
  stop();
  polling = true;
  $('main').hidden = false;
  setLive('idle', 'loading');
  pollNow();
}

function stop(): void {
  polling = false;
  generation++;
  clearTimeout(pollTimer);
}

// ---- drawing ------------------------------------------------------------------------------

function drawCounts({ counts, truncated, from, events }: Activity): void {
  for (const [status, n] of Object.entries(counts.byStatus)) {
    const el = document.querySelector(`[data-count="${status}"]`);
    if (el) el.textContent = String(n);
  }
  const reasons = $('reasons');
  reasons.replaceChildren(
    ...Object.entries(counts.byReason)
      .filter(([, n]) => n > 0)
      .map(([reason, n]) => {
        const li = document.createElement('li');
        li.textContent = `${reason} ${n}`;
        li.dataset.reason = reason;
        return li;
      }),
  );
  $('window-note').textContent = truncated
    ? `(${events} newest events only, since ${new Date(from).toLocaleTimeString()})`
    : `(${events} events)`;
}

function drawChart(points: ThroughputPoint[]): void {
  const canvas = $('chart', HTMLCanvasElement);
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth * ratio;
  const height = canvas.clientHeight * ratio;
  if (canvas.width !== width || canvas.height !== height) {
    canvas.width = width;
    canvas.height = height;
  }
  const ctx = canvas.getContext('2d');
  if (!ctx) return;
  ctx.clearRect(0, 0, width, height);
  const max = Math.max(1, ...points.flatMap((p) => SERIES.map((s) => p[s])));
  const styles = getComputedStyle(document.documentElement);
  const pad = 6 * ratio;
  const x = (i: number): number => pad + (i / Math.max(1, points.length - 1)) * (width - 2 * pad);
  const y = (v: number): number => height - pad - (v / max) * (height - 2 * pad);
  ctx.lineWidth = 1.5 * ratio;
  for (const series of SERIES) {
    ctx.strokeStyle = styles.getPropertyValue(`--${series}`).trim();
    ctx.beginPath();
    points.forEach((p, i) => {
      if (i === 0) ctx.moveTo(x(i), y(p[series]));
      else ctx.lineTo(x(i), y(p[series]));
    });
    ctx.stroke();
  }
  ctx.fillStyle = styles.getPropertyValue('--muted').trim();
  ctx.font = `${11 * ratio}px system-ui, sans-serif`;
  ctx.fillText(`${max}/s`, pad, pad + 10 * ratio);
  // The last whole second: the current one is still filling up.
  const last = points.at(-2) ?? points.at(-1);
  $('rate').textContent = last ? `last second: ${SERIES.map((s) => `${last[s]} ${s}`).join(', ')}` : '';
}

function cell(text: string, className?: string): HTMLTableCellElement {
  const td = document.createElement('td');
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function row(...cells: HTMLTableCellElement[]): HTMLTableRowElement {
  const tr = document.createElement('tr');
  tr.append(...cells);
  return tr;
}

function drawStreams(groups: StreamGroup[]): void {
  $('streams').replaceChildren(
    ...groups.map((g) => row(cell(g.stream), cell(g.group), cell(g.lag === null ? '?' : String(g.lag)), cell(String(g.pending)))),
  );
}

function drawNodes(nodes: DeliveryNode[]): void {
  const now = Date.now();
  $('nodes').replaceChildren(
    ...nodes.map((n) => {
      const tr = row(
        cell(n.nodeId),
        cell(n.connections === null ? '?' : String(n.connections)),
        cell(`${((now - n.lastHeartbeatAt) / 1000).toFixed(1)} s ago`, n.alive ? '' : 'stale'),
      );
      tr.dataset.nodeId = n.nodeId;
      return tr;
    }),
  );
}

function statusCell(status: string, reason: string | undefined): HTMLTableCellElement {
  const td = cell(reason ? `${status} ${reason}` : status, 'status');
  td.dataset.status = status;
  return td;
}

function drawRecent(notifications: RecentNotification[]): void {
  $('recent').replaceChildren(
    ...notifications.map((n) => {
      const tr = row(
        cell(n.acceptedAt ? new Date(n.acceptedAt).toLocaleTimeString() : '—'),
        cell(n.recipientId ?? '?'),
        cell(n.title ?? ''),
        statusCell(n.status, n.reason),
        cell(n.notificationId, 'id'),
      );
      tr.dataset.notificationId = n.notificationId;
      tr.addEventListener('click', () => void openHistory(n.notificationId));
      return tr;
    }),
  );
}

// ---- one notification's history (the status store, authoritative) -----------------------

async function openHistory(id: string): Promise<void> {
  $('history-panel').hidden = false;
  $('history-id').textContent = id;
  $('history-summary').textContent = 'loading';
  $('history').replaceChildren();
  try {
    const s = await getJson<NotificationStatus>(`/notifications/${encodeURIComponent(id)}/status`);
    $('history-summary').textContent = `${s.recipientId}: ${s.status}${s.reason ? ` (${s.reason})` : ''}`;
    const start = Date.parse(s.acceptedAt);
    $('history').replaceChildren(
      ...s.history.map((h) => {
        const li = document.createElement('li');
        li.dataset.status = h.status;
        const at = Date.parse(h.at);
        const parts = [TIME.format(at), `(+${at - start} ms)`, h.status];
        if (h.reason) parts.push(h.reason);
        if (h.nodeId) parts.push(`on ${h.nodeId}`);
        li.textContent = parts.join(' ');
        return li;
      }),
    );
  } catch (err) {
    $('history-summary').textContent = messageOf(err);
  }
}

// ---- wiring -------------------------------------------------------------------------------

$('key-form').addEventListener('submit', (event) => {
  event.preventDefault();
  apiKey = $('api-key', HTMLInputElement).value.trim();
  if (!apiKey) return;
  sessionStorage.setItem(KEY_STORAGE, apiKey);
  start();
});

$('forget-key').addEventListener('click', () => {
  stop();
  apiKey = '';
  sessionStorage.removeItem(KEY_STORAGE);
  $('api-key', HTMLInputElement).value = '';
  $('main').hidden = true;
  setLive('idle', 'not connected');
});

$('search-form').addEventListener('submit', (event) => {
  event.preventDefault();
  query = $('search', HTMLInputElement).value.trim();
  // A whole id may be older than the window: its history comes from the status store anyway.
  if (UUID.test(query)) void openHistory(query);
  pollNow();
});

$('minutes').addEventListener('change', pollNow);

$('history-close').addEventListener('click', () => {
  $('history-panel').hidden = true;
});

if (apiKey) {
  $('api-key', HTMLInputElement).value = apiKey;
  start();
}
