import { readFile } from 'node:fs/promises';
import { sendBatch, type Accepted, type ApiTarget } from '../api.ts';
import { CliError, usageError } from '../errors.ts';
import { paint, printJson, printLines, type Output } from '../output.ts';

/**
 * `pushflow send --batch FILE`: a JSON Lines file of notifications sent in chunks to POST
 * /notifications/batch, one request per chunk. Each chunk is all or nothing at the gateway
 * (validation, rate limit), not the file: when a chunk fails, those before it were sent, and
 * the error says which line it stopped at.
 */
export const DEFAULT_BATCH_SIZE = 1000;
/** The gateway never takes more (its PUSHFLOW_MAX_BATCH_SIZE ceiling). */
export const MAX_BATCH_SIZE = 10_000;
/** The gateway's longest Idempotency-Key. */
const MAX_KEY_LENGTH = 255;

export interface Line {
  /** 1-based, in the file, blank lines counted. */
  number: number;
  notification: Record<string, unknown>;
}

/** The notifications of a JSON Lines file (`-`: stdin), blank lines skipped; a bad line is a usage error naming it. */
export async function readNotifications(file: string): Promise<Line[]> {
  let text: string;
  try {
    text = file === '-' ? await readStdin() : await readFile(file, 'utf8');
  } catch (err) {
    throw usageError(`send: cannot read --batch ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const lines: Line[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    if (raw.trim() === '') return;
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch (err) {
      throw usageError(`send: ${file} line ${i + 1} is not JSON: ${(err as Error).message}`);
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      throw usageError(`send: ${file} line ${i + 1} must be a JSON object such as {"recipientId":"alice","title":"Hi"}`);
    }
    lines.push({ number: i + 1, notification: value as Record<string, unknown> });
  });
  if (lines.length === 0) throw usageError(`send: ${file} holds no notification`);
  return lines;
}

export interface BatchRun {
  target: ApiTarget;
  lines: Line[];
  size: number;
  /** Chunk n (from 1) is sent with `<key>:<n>`, so running the same command again sends nothing twice. */
  idempotencyKey?: string;
  out: Output;
}

/** Sends the chunks one after another, printing each chunk's notifications as it is accepted. */
export async function sendInChunks({ target, lines, size, idempotencyKey, out }: BatchRun): Promise<void> {
  const chunks = Math.ceil(lines.length / size);
  if (idempotencyKey !== undefined && `${idempotencyKey}:${chunks}`.length > MAX_KEY_LENGTH) {
    throw usageError(`send: --idempotency-key must leave room for ":${chunks}" (at most ${MAX_KEY_LENGTH} characters in all)`);
  }
  let sent = 0;
  for (let n = 1; n <= chunks; n++) {
    const chunk = lines.slice((n - 1) * size, n * size);
    let accepted: Accepted[];
    try {
      accepted = await sendBatch(
        target,
        chunk.map((l) => l.notification),
        idempotencyKey === undefined ? undefined : `${idempotencyKey}:${n}`,
      );
    } catch (err) {
      throw err instanceof CliError ? stoppedAt(err, chunk, sent) : err;
    }
    accepted.forEach((a, i) => {
      if (out.json) printJson(a);
      else
        printLines([
          `${paint(out, 'cyan', a.status)} ${paint(out, 'bold', a.notificationId)} to ${String(chunk[i]!.notification.recipientId)} at ${a.acceptedAt}`,
        ]);
    });
    sent += chunk.length;
  }
}

/** The API's error, told where in the file it happened and what was sent before. */
function stoppedAt(err: CliError, chunk: Line[], sent: number): CliError {
  const errors = err.details.errors;
  const path = Array.isArray(errors) ? String((errors[0] as { path?: unknown } | undefined)?.path ?? '') : '';
  const index = /^\/body\/notifications\/(\d+)/.exec(path)?.[1];
  const line = index === undefined ? undefined : chunk[Number(index)]?.number;
  const where = line !== undefined ? `line ${line}` : `lines ${chunk[0]!.number}-${chunk.at(-1)!.number}`;
  const before = sent === 0 ? 'nothing was sent' : `the ${sent} notification${sent === 1 ? '' : 's'} before were sent`;
  return new CliError(err.exitCode, err.code, `${where}: ${err.message}; ${before}`, {
    ...err.details,
    sent,
    ...(line !== undefined && { line }),
  });
}

async function readStdin(): Promise<string> {
  const parts: Buffer[] = [];
  for await (const part of process.stdin) parts.push(part as Buffer);
  return Buffer.concat(parts).toString('utf8');
}
