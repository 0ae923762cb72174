// PushFlow dashboard: polls the gateway's /dashboard/api/ endpoints once a second with the
// API key the operator typed in, and draws what they say. No framework, no build step; the
// page's CSP allows scripts and requests to this origin only, so everything a notification
// carries is written with textContent, never as HTML.

const POLL_MS = 1000;
const SERIES = ['accepted', 'delivered', 'failed', 'acknowledged'];
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
// Only this tab remembers the key, and only until it closes.
const KEY_STORAGE = 'pushflow.apiKey';

const $ = (id) => document.getElementById(id);
let apiKey = sessionStorage.getItem(KEY_STORAGE) ?? '';
let pollTimer;
let polling = false;
/** Bumped by every (re)start: a poll still in flight from before does not schedule another. */
let generation = 0;
let query = '';

class Unauthorized extends Error {}

const TIME = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit', fractionalSecondDigits: 3, hour12: false });

async function getJson(path) {
  const res = await fetch(path, { headers: { authorization: `Bearer ${apiKey}` }, cache: 'no-store' });
  if (res.status === 401) throw new Unauthorized('the API key was refused');
  const body = await res.json().catch(() => undefined);
  if (!res.ok) throw new Error(body?.detail ?? body?.title ?? `HTTP ${res.status}`);
  return body;
}

function setLive(state, text) {
  $('live').dataset.state = state;
  $('live').textContent = text;
}

// ---- polling ------------------------------------------------------------------------------

/** One poll at a time: the next is scheduled when this one is done, so a slow gateway is not piled on. */
async function poll(gen = generation) {
  if (!polling || gen !== generation) return;
  const minutes = $('minutes').value;
  const search = new URLSearchParams({ minutes, limit: '50' });
  if (query) search.set('q', query);
  try {
    const [activity, recent, streams, nodes] = await Promise.all([
      getJson(`/dashboard/api/activity?minutes=${minutes}`),
      getJson(`/dashboard/api/notifications?${search}`),
      getJson('/dashboard/api/streams'),
      getJson('/dashboard/api/nodes'),
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
    setLive('error', `cannot read: ${err.message}; retrying`);
  }
  if (polling && gen === generation) pollTimer = setTimeout(() => void poll(gen), POLL_MS);
}

/** Now, not at the next tick (a new search or window); a poll in flight is superseded. */
function pollNow() {
  if (!polling) return;
  clearTimeout(pollTimer);
  generation++;
  void poll();
}

function start() {
  stop();
  polling = true;
  $('main').hidden = false;
  setLive('idle', 'loading');
  pollNow();
}

function stop() {
  polling = false;
  generation++;
  clearTimeout(pollTimer);
}

// ---- drawing ------------------------------------------------------------------------------

function drawCounts({ counts, truncated, from, events }) {
  for (const [status, n] of Object.entries(counts.byStatus)) {
    const el = document.querySelector(`[data-count="${status}"]`);
    if (el) el.textContent = String(n);
  }
  const reasons = $('reasons');
  reasons.replaceChildren(...Object.entries(counts.byReason).filter(([, n]) => n > 0).map(([reason, n]) => {
    const li = document.createElement('li');
    li.textContent = `${reason} ${n}`;
    li.dataset.reason = reason;
    return li;
  }));
  $('window-note').textContent = truncated
    ? `(${events} newest events only, since ${new Date(from).toLocaleTimeString()})`
    : `(${events} events)`;
}

function drawChart(points) {
  const canvas = $('chart');
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth * ratio;
  const height = canvas.clientHeight * ratio;
  if (canvas.width !== width || canvas.height !== height) {
    canvas.width = width;
    canvas.height = height;
  }
  const ctx = canvas.getContext('2d');
  ctx.clearRect(0, 0, width, height);
  const max = Math.max(1, ...points.flatMap((p) => SERIES.map((s) => p[s])));
  const styles = getComputedStyle(document.documentElement);
  const pad = 6 * ratio;
  const x = (i) => pad + (i / Math.max(1, points.length - 1)) * (width - 2 * pad);
  const y = (v) => height - pad - (v / max) * (height - 2 * pad);
  ctx.lineWidth = 1.5 * ratio;
  for (const series of SERIES) {
    ctx.strokeStyle = styles.getPropertyValue(`--${series}`).trim();
    ctx.beginPath();
    points.forEach((p, i) => (i === 0 ? ctx.moveTo(x(i), y(p[series])) : ctx.lineTo(x(i), y(p[series]))));
    ctx.stroke();
  }
  ctx.fillStyle = styles.getPropertyValue('--muted').trim();
  ctx.font = `${11 * ratio}px system-ui, sans-serif`;
  ctx.fillText(`${max}/s`, pad, pad + 10 * ratio);
  // The last whole second: the current one is still filling up.
  const last = points.at(-2) ?? points.at(-1);
  $('rate').textContent = last ? `last second: ${SERIES.map((s) => `${last[s]} ${s}`).join(', ')}` : '';
}

function cell(text, className) {
  const td = document.createElement('td');
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function row(...cells) {
  const tr = document.createElement('tr');
  tr.append(...cells);
  return tr;
}

function drawStreams(groups) {
  $('streams').replaceChildren(...groups.map((g) => row(
    cell(g.stream), cell(g.group), cell(g.lag === null ? '?' : String(g.lag)), cell(String(g.pending)),
  )));
}

function drawNodes(nodes) {
  const now = Date.now();
  $('nodes').replaceChildren(...nodes.map((n) => {
    const tr = row(
      cell(n.nodeId), cell(n.connections === null ? '?' : String(n.connections)),
      cell(`${((now - n.lastHeartbeatAt) / 1000).toFixed(1)} s ago`, n.alive ? '' : 'stale'),
    );
    tr.dataset.nodeId = n.nodeId;
    return tr;
  }));
}

function statusCell(status, reason) {
  const td = cell(reason ? `${status} ${reason}` : status, 'status');
  td.dataset.status = status;
  return td;
}

function drawRecent(notifications) {
  $('recent').replaceChildren(...notifications.map((n) => {
    const tr = row(
      cell(n.acceptedAt ? new Date(n.acceptedAt).toLocaleTimeString() : '—'),
      cell(n.recipientId ?? '?'), cell(n.title ?? ''), statusCell(n.status, n.reason), cell(n.notificationId, 'id'),
    );
    tr.dataset.notificationId = n.notificationId;
    tr.addEventListener('click', () => void openHistory(n.notificationId));
    return tr;
  }));
}

// ---- one notification's history (the status store, authoritative) -----------------------

async function openHistory(id) {
  $('history-panel').hidden = false;
  $('history-id').textContent = id;
  $('history-summary').textContent = 'loading';
  $('history').replaceChildren();
  try {
    const s = await getJson(`/notifications/${encodeURIComponent(id)}/status`);
    $('history-summary').textContent = `${s.recipientId}: ${s.status}${s.reason ? ` (${s.reason})` : ''}`;
    const start = Date.parse(s.acceptedAt);
    $('history').replaceChildren(...s.history.map((h) => {
      const li = document.createElement('li');
      li.dataset.status = h.status;
      const at = Date.parse(h.at);
      const parts = [TIME.format(at), `(+${at - start} ms)`, h.status];
      if (h.reason) parts.push(h.reason);
      if (h.nodeId) parts.push(`on ${h.nodeId}`);
      li.textContent = parts.join(' ');
      return li;
    }));
  } catch (err) {
    $('history-summary').textContent = err.message;
  }
}

// ---- wiring -------------------------------------------------------------------------------

$('key-form').addEventListener('submit', (event) => {
  event.preventDefault();
  apiKey = $('api-key').value.trim();
  if (!apiKey) return;
  sessionStorage.setItem(KEY_STORAGE, apiKey);
  start();
});

$('forget-key').addEventListener('click', () => {
  stop();
  apiKey = '';
  sessionStorage.removeItem(KEY_STORAGE);
  $('api-key').value = '';
  $('main').hidden = true;
  setLive('idle', 'not connected');
});

$('search-form').addEventListener('submit', (event) => {
  event.preventDefault();
  query = $('search').value.trim();
  // A whole id may be older than the window: its history comes from the status store anyway.
  if (UUID.test(query)) void openHistory(query);
  pollNow();
});

$('minutes').addEventListener('change', pollNow);

$('history-close').addEventListener('click', () => {
  $('history-panel').hidden = true;
});

if (apiKey) {
  $('api-key').value = apiKey;
  start();
}
