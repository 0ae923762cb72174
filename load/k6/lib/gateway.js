// The gateway calls the scripts make: POST /notifications, POST /notifications/batch and POST /connect-tokens.
import http from 'k6/http';
import { check, fail } from 'k6';

function params(target, name) {
  return {
    headers: { Authorization: `Bearer ${target.apiKey}`, 'Content-Type': 'application/json' },
    tags: { name },
  };
}

/** Sends one notification; answers the 202's body ({notificationId, status, acceptedAt}) or null. */
export function sendNotification(target, recipientId, data) {
  const res = http.post(
    `${target.baseUrl}/notifications`,
    JSON.stringify({ recipientId, title: 'k6', body: 'PushFlow load test', data }),
    params(target, 'POST /notifications'),
  );
  const accepted = check(res, { 'POST /notifications answers 202': (r) => r.status === 202 });
  return accepted ? res.json() : null;
}

/**
 * Sends notifications ([{recipientId, title?, body?, data?}]) in one POST /notifications/batch;
 * answers the 202's list ([{notificationId, status, acceptedAt}], in the same order) or null.
 */
export function sendNotificationBatch(target, notifications) {
  const res = http.post(
    `${target.baseUrl}/notifications/batch`,
    JSON.stringify({ notifications }),
    params(target, 'POST /notifications/batch'),
  );
  const accepted = check(res, { 'POST /notifications/batch answers 202': (r) => r.status === 202 });
  return accepted ? res.json().notifications : null;
}

/** A connect token for recipientId, or null (the failed check says so). */
export function connectToken(target, recipientId, ttlSeconds) {
  const res = http.post(
    `${target.baseUrl}/connect-tokens`,
    JSON.stringify({ recipientId, ttlSeconds }),
    params(target, 'POST /connect-tokens'),
  );
  const issued = check(res, { 'POST /connect-tokens answers 201': (r) => r.status === 201 });
  return issued ? res.json().token : null;
}

/**
 * For setup(): stops the run at once, saying why, when the gateway cannot be reached or refuses
 * API_KEY, rather than spending the whole run on errors. Minting a token touches no storage.
 */
export function assertGatewayAccepts(target) {
  const res = http.post(
    `${target.baseUrl}/connect-tokens`,
    JSON.stringify({ recipientId: `${target.recipientPrefix}-probe`, ttlSeconds: 60 }),
    params(target, 'POST /connect-tokens'),
  );
  if (res.status === 0) fail(`cannot reach the gateway at ${target.baseUrl} (BASE_URL): ${res.error}`);
  if (res.status === 401) fail(`the gateway at ${target.baseUrl} refuses API_KEY (401)`);
  if (res.status !== 201) fail(`POST ${target.baseUrl}/connect-tokens answered ${res.status}: ${res.body}`);
}
