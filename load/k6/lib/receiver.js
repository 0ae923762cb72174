// The receiving side: one VU is one client of one recipient. It connects with a connect token,
// acks every notification (as docs/api.md's WebSocket protocol asks), and stays connected until
// the run's end, reconnecting as the same recipient if the socket drops.
//
// k6/websockets is the WebSocket module current k6 (v1.x) documents: the browser WebSocket API
// on k6's global event loop; k6/experimental/websockets is its deprecated former name.
import { WebSocket } from 'k6/websockets';
import { setTimeout, clearTimeout } from 'k6/timers';
import { check, sleep } from 'k6';
import exec from 'k6/execution';
import { connectToken } from './gateway.js';
import { recipientId as recipientIdOf } from './settings.js';

// Kept per VU (each VU has its own copy of this module) across its iterations, so a reconnect
// is the same user and a notification delivered twice is counted once.
let recipientId;
let connects = 0;
const seen = new Set();

// The largest connect token the gateway mints by default (PUSHFLOW_MAX_TOKEN_TTL_SECONDS); a
// longer run reconnects with a fresh token when the delivery node closes the socket with 4003.
const MAX_TOKEN_TTL_SECONDS = 86400;
const TOKEN_EXPIRED = 4003;

function notificationFrom(text) {
  try {
    const frame = JSON.parse(text);
    return frame !== null && frame.type === 'notification' && typeof frame.notificationId === 'string' ? frame : null;
  } catch (_notJson) {
    return null;
  }
}

/**
 * One iteration of a receiver VU: connects and holds the socket until closeAt (ms since the
 * epoch). onNotification(frame, receivedAtMs) is called once per notification id.
 */
export function receiveUntil(target, closeAt, onNotification) {
  const remainingMs = closeAt - Date.now();
  if (remainingMs < 1000) {
    // Too late to connect: sit out the rest of the scenario instead of spinning empty iterations.
    if (remainingMs > 0) sleep(remainingMs / 1000);
    return;
  }
  // The VU's first iteration picks its recipient; the numbers run 0, 1, 2... as receivers start.
  if (recipientId === undefined) recipientId = recipientIdOf(target, exec.scenario.iterationInTest);
  if (connects > 0) sleep(Math.min(connects, 5)); // back off before reconnecting
  connects += 1;

  const ttlSeconds = Math.min(MAX_TOKEN_TTL_SECONDS, Math.ceil(remainingMs / 1000) + 60);
  const token = connectToken(target, recipientId, ttlSeconds);
  if (token === null) return;

  const separator = target.wsUrl.includes('?') ? '&' : '?';
  // The name tag groups every socket's ws_* metrics under WS_URL and keeps tokens out of them.
  const ws = new WebSocket(`${target.wsUrl}${separator}token=${encodeURIComponent(token)}`, null, {
    tags: { name: target.wsUrl },
  });
  let closing = false;
  let closer;

  ws.onopen = () => {
    closer = setTimeout(
      () => {
        closing = true;
        ws.close();
      },
      Math.max(0, closeAt - Date.now()),
    );
  };
  ws.onmessage = (event) => {
    const receivedAt = Date.now();
    const frame = notificationFrom(event.data);
    if (!check(frame, { 'every frame is a notification': (f) => f !== null })) return;
    ws.send(JSON.stringify({ type: 'ack', notificationId: frame.notificationId }));
    if (seen.has(frame.notificationId)) return;
    seen.add(frame.notificationId);
    onNotification(frame, receivedAt);
  };
  ws.onerror = (event) => {
    if (!closing) console.warn(`receiver ${recipientId}: ${event.error}`);
  };
  ws.onclose = (event) => {
    clearTimeout(closer);
    check(event, {
      'socket stays open until the end': (e) => closing || e.code === TOKEN_EXPIRED,
    });
  };
}
