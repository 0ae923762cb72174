import { setTimeout as sleep } from 'node:timers/promises';
import { apiHelp, apiOptions, commonHelp, commonOptions, parseCommand, parseSeconds } from '../args.ts';
import { apiTarget, request, type ApiTarget } from '../api.ts';
import { CliError, EXIT, usageError } from '../errors.ts';
import { paint, printHelp, printJson, printLines, type Output, type Style } from '../output.ts';
import { explainingUnreachable, gatewayValues } from '../settings.ts';
import type { Command } from './command.ts';

const STATUSES = ['ACCEPTED', 'DISPATCHED', 'DELIVERED', 'ACKNOWLEDGED', 'FAILED'] as const;
type Status = (typeof STATUSES)[number];
const DEFAULT_TIMEOUT_S = 30;
const POLL_MS = 200;

const help = `Usage: pushflow status <notificationId> [--wait STATUS [--timeout S]]

Prints a notification's status and history (GET /notifications/:id/status).

  --wait STATUS      poll until the status is STATUS or one after it (ACCEPTED, DISPATCHED,
                     DELIVERED, ACKNOWLEDGED; or FAILED), or until it ends in another
                     terminal status (DELIVERED, ACKNOWLEDGED, FAILED)
  --timeout S        give up waiting after S seconds (default ${DEFAULT_TIMEOUT_S}); only with --wait
${apiHelp}
${commonHelp}

With --json prints the status document as the API gives it
({notificationId, recipientId, status, reason?, acceptedAt, updatedAt, history}).
Exit codes: 0 found (with --wait: reached), 1 usage, 2 refused (e.g. an id that is not a
UUID), 3 unreachable or 5xx, 4 no such notification, 5 --wait timed out, 6 --wait: ended
in another terminal status (e.g. FAILED while waiting for DELIVERED). On 5 and 6 the last
status is still printed on stdout.
`;

interface StatusDoc {
  notificationId: string;
  recipientId: string;
  status: Status;
  reason?: string;
  acceptedAt: string;
  updatedAt: string;
  history: { status: Status; at: string; nodeId?: string; reason?: string }[];
}

export const status: Command = {
  name: 'status',
  summary: "print a notification's status, or wait for one (GET /notifications/:id/status)",
  help,
  async run(args, out) {
    const { values, positionals } = parseCommand(
      'status',
      args,
      {
        ...commonOptions,
        ...apiOptions,
        wait: { type: 'string' },
        timeout: { type: 'string' },
      },
      ['notificationId'],
    );
    if (values.help) return printHelp(help);
    const wanted = values.wait === undefined ? undefined : parseStatus(values.wait);
    if (values.timeout !== undefined && wanted === undefined) throw usageError('status: --timeout goes with --wait');
    const timeoutS = values.timeout === undefined ? DEFAULT_TIMEOUT_S : parseSeconds('status', 'timeout', values.timeout, true);
    const gateway = gatewayValues(values);
    const target = await apiTarget(gateway);
    const id = positionals[0]!;
    if (wanted === undefined) {
      print(out, await explainingUnreachable(gateway.found, () => fetchStatus(target, id)));
      return EXIT.ok;
    }
    const deadline = Date.now() + timeoutS * 1000;
    for (;;) {
      const doc = await explainingUnreachable(gateway.found, () => fetchStatus(target, id));
      const outcome = waitOutcome(doc.status, wanted);
      if (outcome === 'reached') {
        print(out, doc);
        return EXIT.ok;
      }
      if (outcome === 'other') {
        print(out, doc);
        throw new CliError(EXIT.waitOtherOutcome, 'WAIT_OTHER_OUTCOME', `${id} ended ${describe(doc)}, not ${wanted}`, {
          status: doc.status,
        });
      }
      if (Date.now() + POLL_MS > deadline) {
        print(out, doc);
        throw new CliError(EXIT.waitTimedOut, 'WAIT_TIMEOUT', `${id} is still ${describe(doc)} after ${timeoutS} s, not ${wanted}`, {
          status: doc.status,
        });
      }
      await sleep(POLL_MS);
    }
  },
};

async function fetchStatus(target: ApiTarget, id: string): Promise<StatusDoc> {
  return (await request<StatusDoc>(target, 'GET', `/notifications/${encodeURIComponent(id)}/status`)).body;
}

function parseStatus(raw: string): Status {
  const s = raw.toUpperCase();
  if (!(STATUSES as readonly string[]).includes(s))
    throw usageError(`status: --wait must be one of ${STATUSES.join(', ')} (got ${JSON.stringify(raw)})`);
  return s as Status;
}

const RANK: Record<Exclude<Status, 'FAILED'>, number> = { ACCEPTED: 0, DISPATCHED: 1, DELIVERED: 2, ACKNOWLEDGED: 3 };

/**
 * Reached when the status is the one wanted or comes after it on the way to ACKNOWLEDGED;
 * "other" when the notification can no longer get there: FAILED, or DELIVERED/ACKNOWLEDGED
 * while waiting for FAILED (DELIVERED is terminal; only an ack still follows it).
 */
export function waitOutcome(current: Status, wanted: Status): 'reached' | 'other' | 'pending' {
  if (current === wanted) return 'reached';
  if (wanted === 'FAILED') return current === 'DELIVERED' || current === 'ACKNOWLEDGED' ? 'other' : 'pending';
  if (current === 'FAILED') return 'other';
  return RANK[current] >= RANK[wanted] ? 'reached' : 'pending';
}

function describe(doc: StatusDoc): string {
  return doc.reason ? `${doc.status} (${doc.reason})` : doc.status;
}

const STYLE: Record<Status, Style> = { ACCEPTED: 'cyan', DISPATCHED: 'blue', DELIVERED: 'green', ACKNOWLEDGED: 'magenta', FAILED: 'red' };

function print(out: Output, doc: StatusDoc): void {
  if (out.json) {
    printJson(doc);
    return;
  }
  const width = Math.max(...doc.history.map((h) => h.status.length));
  printLines([
    `${paint(out, 'bold', doc.notificationId)} ${paint(out, STYLE[doc.status] ?? 'bold', describe(doc))}`,
    `  recipient  ${doc.recipientId}`,
    `  accepted   ${doc.acceptedAt}`,
    `  updated    ${doc.updatedAt}`,
    ...doc.history.map(
      (h) =>
        `  ${h.at}  ${paint(out, STYLE[h.status] ?? 'bold', h.status.padEnd(width))}${h.reason ? ` ${h.reason}` : ''}${h.nodeId ? paint(out, 'dim', ` on ${h.nodeId}`) : ''}`,
    ),
  ]);
}
