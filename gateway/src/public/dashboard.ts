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

/** GET /dashboard/api/webhooks: one row per endpoint. */
interface WebhookAttempt {
  event: string;
  notificationId?: string;
  outcome: string;
  status?: number;
  error?: string;
  at: string;
}

interface WebhookEndpointStats {
  id: string;
  url: string;
  enabled: boolean;
  events: string[];
  recentAttempts: number;
  recentSucceeded: number;
  backlog: number;
  failed: number;
  oldestPendingAt?: string;
  lastFailures: WebhookAttempt[];
}

type Series = 'accepted' | 'delivered' | 'failed' | 'acknowledged';

// ---- state ----------------------------------------------------------------------------------

const POLL_MS = 1000;
/** The webhooks panel asks a dispatcher (MongoDB), so less often than the Redis-only panels. */
const WEBHOOKS_POLL_MS = 5000;
const SERIES: readonly Series[] = ['accepted', 'delivered', 'failed', 'acknowledged'];
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
// Only this tab remembers the key, and only until it closes.
const KEY_STORAGE = 'pushflow.apiKey';

/**
 * The element with this id, as the type dashboard.html gives it: a missing one is a broken
 * page, so it throws where it is first used rather than drawing half a dashboard.
 */
function $<T extends Element = HTMLElement>(id: string, type?: new () => T): T {
  const el: Element | null = document.getElementById(id);
  if (!el || (type && !(el instanceof type))) throw new Error(`dashboard.html has no ${type?.name ?? 'element'} #${id}`);
  return el as T;
}

let apiKey = sessionStorage.getItem(KEY_STORAGE) ?? '';
let pollTimer: number | undefined;
let polling = false;
/** Bumped by every (re)start: a poll still in flight from before does not schedule another. */
let generation = 0;
let query = '';
/** What the chart last drew, redrawn at the new width when the window is resized. */
let lastThroughput: ThroughputPoint[] = [];
/** Bumped by every history opened: an answer for one closed or replaced since is dropped. */
let historyGeneration = 0;

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

/** The panels once a key is given; until then (or once it is refused) the note on what key to give. */
function showPanels(shown: boolean): void {
  $('main').hidden = !shown;
  $('intro').hidden = shown;
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
    void pollWebhooks(gen);
    setLive('live', `live · ${new Date().toLocaleTimeString()}`);
  } catch (err) {
    if (gen !== generation) return;
    if (err instanceof Unauthorized) {
      stop();
      setLive('error', 'API key refused');
      showPanels(false);
      return;
    }
    setLive('error', `cannot read: ${messageOf(err)}; retrying`);
  }
  if (polling && gen === generation) pollTimer = window.setTimeout(() => void poll(gen), POLL_MS);
}

let webhooksReadAt = 0;

/** Beside the main poll, at most every WEBHOOKS_POLL_MS; its failure only shows in its own panel. */
async function pollWebhooks(gen: number): Promise<void> {
  if (Date.now() - webhooksReadAt < WEBHOOKS_POLL_MS) return;
  webhooksReadAt = Date.now();
  try {
    const { endpoints } = await getJson<{ endpoints: WebhookEndpointStats[] }>('/dashboard/api/webhooks');
    if (gen !== generation) return;
    drawWebhooks(endpoints);
    $('webhooks-note').textContent = endpoints.length === 0 ? 'No webhook endpoints (POST /webhooks adds one).' : '';
  } catch (err) {
    if (gen === generation) $('webhooks-note').textContent = `cannot read the webhooks: ${messageOf(err)}`;
  }
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
  showPanels(true);
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

// ---- the throughput chart ----------------------------------------------------------------

const SVG_NS = 'http://www.w3.org/2000/svg';
/** Room around the plot: above for the scale, below for the time axis. */
const PLOT = { top: 18, right: 8, bottom: 22, left: 8 };
/** Seconds between time-axis ticks: the first that leaves MIN_TICK_PX between them. */
const TICK_STEPS = [5, 10, 15, 30, 60, 120, 300, 600, 900, 1800];
const MIN_TICK_PX = 72;
/**
 * Smoothing at low rates: while the busiest series stays under LOW_RATE events a second,
 * every series is drawn as a moving average over the last SMOOTH_BUCKETS buckets. A few
 * events a minute counted per second are a comb of 0s and 1s that hides the rate; their
 * average shows it. Trailing, not centred: a bucket's average is final once the bucket is,
 * so the newest end of the line does not change shape from one poll to the next. Busier
 * series are drawn as counted, where a one-second spike means something. The chart says
 * which it shows, in its top right corner.
 */
const LOW_RATE = 5;
const SMOOTH_BUCKETS = 5;
/**
 * Accepted is drawn last and dashed: a connected recipient gets a notification in the second
 * it is accepted, so the two lines often coincide and the dashes let delivered show through.
 * Acknowledged (acked in the second it is delivered) is drawn first and thicker, so that it
 * shows either side of delivered.
 */
const DRAW_ORDER: readonly Series[] = ['acknowledged', 'failed', 'delivered', 'accepted'];
const HH_MM = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
const HH_MM_SS = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' });

/** Mean events per second of each series over a bucket of whole seconds centred on `t`. */
interface Bucket {
  t: number;
  rates: Record<Series, number>;
}

function svg<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number>, text?: string): SVGElementTagNameMap[K] {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attrs)) el.setAttribute(name, String(value));
  if (text !== undefined) el.textContent = text;
  return el;
}

function perSeries(rate: (series: Series) => number): Record<Series, number> {
  return { accepted: rate('accepted'), delivered: rate('delivered'), failed: rate('failed'), acknowledged: rate('acknowledged') };
}

const mean = (values: number[]): number => values.reduce((a, b) => a + b, 0) / values.length;

/**
 * Seconds grouped `size` at a time, so that the chart has no more points than half its
 * pixels (an hour is 3600 seconds). Groups are aligned on the clock, not on the window's
 * start, so they do not shift from one poll to the next.
 */
function bucketed(points: ThroughputPoint[], size: number): Bucket[] {
  const groups = new Map<number, ThroughputPoint[]>();
  for (const p of points) {
    const key = Math.floor(p.t / 1000 / size);
    const group = groups.get(key);
    if (group) group.push(p);
    else groups.set(key, [p]);
  }
  return [...groups.values()].map((g) => ({
    // The middle of the group's seconds: each second's t is its start.
    t: (g[0]!.t + g.at(-1)!.t) / 2 + 500,
    rates: perSeries((s) => mean(g.map((p) => p[s]))),
  }));
}

/** Each bucket and the `width - 1` before it; at the window's start, those there are. */
function movingAverage(buckets: Bucket[], width: number): Bucket[] {
  return buckets.map((b, i) => {
    const last = buckets.slice(Math.max(0, i - width + 1), i + 1);
    return { t: b.t, rates: perSeries((s) => mean(last.map((a) => a.rates[s]))) };
  });
}

/** The scale's top: 1, 2 or 5 times a power of ten, at least 1/s so that a trickle stays low. */
function scaleTop(peak: number): number {
  if (peak <= 1) return 1;
  const power = 10 ** Math.floor(Math.log10(peak));
  return [1, 2, 5, 10].map((m) => m * power).find((top) => top >= peak) ?? 10 * power;
}

const tenths = (n: number): number => Math.round(n * 10) / 10;

function drawChart(points: ThroughputPoint[]): void {
  lastThroughput = points;
  const chart = $('chart', SVGSVGElement);
  // Drawn in CSS pixels, the viewBox the size of the box inside the border: text is not scaled.
  const width = chart.clientWidth;
  const height = chart.clientHeight;
  // The current second is still filling up: drawn, it would always dip at the right edge.
  const whole = points.slice(0, -1);
  const last = whole.at(-1);
  $('rate').textContent = last ? `last second: ${SERIES.map((s) => `${last[s]} ${s}`).join(', ')}` : '';
  if (whole.length < 2 || width === 0) {
    chart.replaceChildren();
    return;
  }
  chart.setAttribute('viewBox', `0 0 ${width} ${height}`);
  const plotWidth = width - PLOT.left - PLOT.right;
  const plotHeight = height - PLOT.top - PLOT.bottom;
  const size = Math.max(1, Math.ceil(whole.length / (plotWidth / 2)));
  const counted = bucketed(whole, size);
  const smooth = counted.length > SMOOTH_BUCKETS && Math.max(...counted.flatMap((b) => SERIES.map((s) => b.rates[s]))) < LOW_RATE;
  const buckets = smooth ? movingAverage(counted, SMOOTH_BUCKETS) : counted;
  const top = scaleTop(Math.max(...buckets.flatMap((b) => SERIES.map((s) => b.rates[s]))));

  const t0 = whole[0]!.t + 500;
  const t1 = last!.t + 500;
  const x = (t: number): number => tenths(PLOT.left + ((t - t0) / (t1 - t0)) * plotWidth);
  const baseline = PLOT.top + plotHeight;
  const y = (rate: number): number => tenths(baseline - (rate / top) * plotHeight);

  const grid = svg('g', { class: 'grid' });
  for (const rate of [top / 2, top]) grid.append(svg('line', { x1: PLOT.left, x2: width - PLOT.right, y1: y(rate), y2: y(rate) }));
  const axis = svg('g', { class: 'axis' });
  axis.append(svg('line', { class: 'baseline', x1: PLOT.left, x2: width - PLOT.right, y1: baseline, y2: baseline }));
  const stepSeconds = TICK_STEPS.find((s) => (s * 1000 * plotWidth) / (t1 - t0) >= MIN_TICK_PX) ?? TICK_STEPS.at(-1)!;
  const step = stepSeconds * 1000;
  const format = step >= 60_000 ? HH_MM : HH_MM_SS;
  // Half a label's width: one the edge would cut is left out, its tick kept.
  const halfLabel = format === HH_MM ? 16 : 26;
  for (let t = Math.ceil(t0 / step) * step; t <= t1; t += step) {
    const at = x(t);
    grid.append(svg('line', { x1: at, x2: at, y1: PLOT.top, y2: baseline }));
    axis.append(svg('line', { x1: at, x2: at, y1: baseline, y2: baseline + 4 }));
    if (at - halfLabel < 0 || at + halfLabel > width) continue;
    const label = svg('text', { x: at, y: height - 6, 'text-anchor': 'middle' }, format.format(t));
    label.dataset.t = String(t);
    axis.append(label);
  }

  const lines = DRAW_ORDER.map((series) => {
    const d = buckets.map((b, i) => `${i === 0 ? 'M' : 'L'}${x(b.t)} ${y(b.rates[series])}`).join('');
    const path = svg('path', { class: `series ${series}`, d });
    path.dataset.series = series;
    return path;
  });
  const scale = svg('text', { class: 'scale', x: PLOT.left, y: PLOT.top - 5 }, `${top}/s`);
  const over = smooth ? `${SMOOTH_BUCKETS * size} s moving average` : size > 1 ? `mean over ${size} s` : 'per second';
  const note = svg('text', { class: 'note', x: width - PLOT.right, y: PLOT.top - 5, 'text-anchor': 'end' }, over);
  chart.dataset.smoothing = smooth ? 'moving-average' : 'none';
  chart.replaceChildren(grid, axis, ...lines, scale, note);
}

// ---- tables -------------------------------------------------------------------------------

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

function drawWebhooks(endpoints: WebhookEndpointStats[]): void {
  const now = Date.now();
  $('webhooks').replaceChildren(
    ...endpoints.map((e) => {
      const rate = e.recentAttempts === 0 ? '–' : `${((100 * e.recentSucceeded) / e.recentAttempts).toFixed(1)} % of ${e.recentAttempts}`;
      const last = e.lastFailures[0];
      const lastText = last ? `${last.at} ${last.event} ${last.status !== undefined ? `HTTP ${last.status}` : (last.error ?? '')}` : '–';
      const oldest = e.oldestPendingAt ? `${((now - Date.parse(e.oldestPendingAt)) / 1000).toFixed(0)} s` : '–';
      const tr = row(
        cell(e.url, e.enabled ? '' : 'stale'),
        cell(e.events.map((t) => t.replace('notification.', '')).join(', ')),
        cell(rate, e.recentAttempts > 0 && e.recentSucceeded < e.recentAttempts ? 'failing' : ''),
        cell(String(e.backlog)),
        cell(String(e.failed), e.failed > 0 ? 'failing' : ''),
        cell(oldest),
        cell(lastText),
      );
      tr.dataset.webhookId = e.id;
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
  const gen = ++historyGeneration;
  $('history-panel').hidden = false;
  $('history-id').textContent = id;
  $('history-summary').textContent = 'loading';
  $('history').replaceChildren();
  try {
    const s = await getJson<NotificationStatus>(`/notifications/${encodeURIComponent(id)}/status`);
    if (gen !== historyGeneration) return;
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
    if (gen === historyGeneration) $('history-summary').textContent = messageOf(err);
  }
}

function closeHistory(): void {
  historyGeneration++;
  $('history-panel').hidden = true;
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
  showPanels(false);
  closeHistory();
  setLive('idle', 'not connected');
});

// A search is a new question: the history open from the last answer would cover the new one.
$('search').addEventListener('input', closeHistory);

$('search-form').addEventListener('submit', (event) => {
  event.preventDefault();
  query = $('search', HTMLInputElement).value.trim();
  closeHistory();
  // A whole id may be older than the window: its history comes from the status store anyway.
  if (UUID.test(query)) void openHistory(query);
  pollNow();
});

$('minutes').addEventListener('change', pollNow);

$('history-close').addEventListener('click', closeHistory);

window.addEventListener('resize', () => {
  if (polling) drawChart(lastThroughput);
});

if (apiKey) {
  $('api-key', HTMLInputElement).value = apiKey;
  start();
}
