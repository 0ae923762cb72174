import { randomBytes } from 'node:crypto';
import { MongoServerError, type Collection, type Db } from 'mongodb';
import {
  DEFAULT_WEBHOOK_EVENTS,
  type WebhookCreate,
  type WebhookCreated,
  type WebhookEndpoint,
  type WebhookRotated,
  type WebhookUpdate,
} from '@pushflow/shared';

/**
 * Webhook endpoints in MongoDB (`webhook_endpoints`). The signing secrets are stored as
 * they are (HMAC needs them): whoever reads this collection can sign as PushFlow, so it
 * is guarded like the connect secret. A secret leaves the dispatcher only in the answer to
 * the create or rotate that made it, never in a view or a log line.
 */
export interface EndpointSecret {
  secret: string;
  /** Set on a secret a rotation replaced: it signs beside the new one until then. */
  expiresAt?: Date;
}

export interface EndpointDoc {
  _id: string;
  url: string;
  events: string[];
  enabled: boolean;
  /**
   * When the request that created or last enabled it reached Redis (its entry's time): the
   * endpoint gets the events appended from then on, however late the relay reads them.
   * Missing on endpoints made before it existed: they get every event the relay reads.
   */
  activeSince?: Date;
  description?: string;
  secrets: EndpointSecret[];
  createdAt: Date;
  updatedAt: Date;
  /** The request that made it: a create read twice answers with the same secret, once. */
  createdBy: string;
}

export type Endpoints = Collection<EndpointDoc>;

export function endpointsCollection(db: Db): Endpoints {
  return db.collection<EndpointDoc>('webhook_endpoints');
}

/** `whsec_` and 32 random bytes in base64: the form Standard Webhooks libraries read. */
export function newSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

export function toView(doc: EndpointDoc): WebhookEndpoint {
  return {
    id: doc._id,
    url: doc.url,
    events: doc.events,
    enabled: doc.enabled,
    ...(doc.description !== undefined && { description: doc.description }),
    createdAt: doc.createdAt.toISOString(),
    updatedAt: doc.updatedAt.toISOString(),
  };
}

/** The secrets that sign now: the current one and any previous one still in its overlap. */
export function liveSecrets(doc: EndpointDoc, now = Date.now()): string[] {
  return doc.secrets.filter((s) => s.expiresAt === undefined || s.expiresAt.getTime() > now).map((s) => s.secret);
}

export async function createEndpoint(
  col: Endpoints,
  id: string,
  input: WebhookCreate,
  request: { id: string; at: Date },
): Promise<WebhookCreated> {
  const now = new Date();
  const doc: EndpointDoc = {
    _id: id,
    url: input.url,
    events: [...(input.events ?? DEFAULT_WEBHOOK_EVENTS)],
    enabled: true,
    activeSince: request.at,
    ...(input.description !== undefined && { description: input.description }),
    secrets: [{ secret: newSecret() }],
    createdAt: now,
    updatedAt: now,
    createdBy: request.id,
  };
  try {
    await col.insertOne(doc);
    return { ...toView(doc), secret: doc.secrets[0]!.secret };
  } catch (err) {
    if (!(err instanceof MongoServerError && err.code === 11000)) throw err;
    // The same request read again (a dispatcher died before acking it): the same answer.
    const existing = await col.findOne({ _id: id, createdBy: request.id });
    if (!existing) throw err;
    return { ...toView(existing), secret: existing.secrets[0]!.secret };
  }
}

export async function listEndpoints(col: Endpoints): Promise<EndpointDoc[]> {
  return col.find({}).sort({ createdAt: 1 }).toArray();
}

export async function getEndpoint(col: Endpoints, id: string): Promise<EndpointDoc | null> {
  return col.findOne({ _id: id });
}

/** `at`: when the request reached Redis; an endpoint it enables again is active from then. */
export async function updateEndpoint(col: Endpoints, id: string, changes: WebhookUpdate, at: Date): Promise<EndpointDoc | null> {
  // Only on a disabled one: the same request read twice, or an enable of an enabled
  // endpoint, leaves its start where it was.
  if (changes.enabled === true) await col.updateOne({ _id: id, enabled: false }, { $set: { activeSince: at } });
  return col.findOneAndUpdate({ _id: id }, { $set: { ...changes, updatedAt: new Date() } }, { returnDocument: 'after' });
}

export async function deleteEndpoint(col: Endpoints, id: string): Promise<boolean> {
  return (await col.deleteOne({ _id: id })).deletedCount === 1;
}

/**
 * A new current secret; the one it replaces signs beside it for `overlapMs`. Older
 * secrets still in an overlap keep theirs, so two rotations in a row never cut one short.
 */
export async function rotateSecret(col: Endpoints, id: string, overlapMs: number): Promise<WebhookRotated | null> {
  const doc = await col.findOne({ _id: id });
  if (!doc) return null;
  const now = Date.now();
  const expiresAt = new Date(now + overlapMs);
  const kept = doc.secrets
    .filter((s) => s.expiresAt === undefined || s.expiresAt.getTime() > now)
    .map((s) => (s.expiresAt === undefined ? { secret: s.secret, expiresAt } : s));
  const secret = newSecret();
  // On the secrets read, so two rotations at once cannot both win and lose a secret.
  const res = await col.updateOne(
    { _id: id, updatedAt: doc.updatedAt },
    { $set: { secrets: [{ secret }, ...kept], updatedAt: new Date(now) } },
  );
  if (res.matchedCount === 0) return rotateSecret(col, id, overlapMs);
  return { id, secret, previousSecretExpiresAt: expiresAt.toISOString() };
}
