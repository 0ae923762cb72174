import { apiHelp, apiOptions, commonHelp, commonOptions, parseCommand, parseCount } from '../args.ts';
import { apiTarget, request, type Accepted } from '../api.ts';
import { EXIT, usageError } from '../errors.ts';
import { explainingUnreachable, gatewayValues } from '../settings.ts';
import { paint, printHelp, printJson, printLines } from '../output.ts';
import type { Command } from './command.ts';
import { DEFAULT_BATCH_SIZE, MAX_BATCH_SIZE, readNotifications, sendInChunks } from './send-batch.ts';

const help = `Usage: pushflow send <recipientId> [--title T] [--body B] [--data JSON] [--idempotency-key K]
       pushflow send --batch FILE.jsonl [--batch-size N] [--idempotency-key K]

Sends one notification (POST /notifications) and prints what the API answered.

  --title T              the notification's title
  --body B               its body
  --data JSON            a JSON object delivered as it is, e.g. '{"orderId":42}'
  --idempotency-key K    sending again with the same key and body makes no second notification

With --batch, sends every notification of a JSON Lines file (- for stdin), one object per
line such as {"recipientId":"alice","title":"Hi","data":{"orderId":42}}, blank lines skipped,
in chunks of --batch-size (POST /notifications/batch, one request per chunk, in file order).

  --batch FILE           the file; a line that is not a JSON object stops before sending anything
  --batch-size N         notifications per request, 1 to ${MAX_BATCH_SIZE}; at most the gateway's
                         PUSHFLOW_MAX_BATCH_SIZE (and PUSHFLOW_RATE_LIMIT_BURST). Default ${DEFAULT_BATCH_SIZE}
  --idempotency-key K    chunk n is sent with K:n: the same command again (same file, same
                         --batch-size) sends nothing twice
${apiHelp}
${commonHelp}

Prints the notification id (with --json: {"notificationId","status":"ACCEPTED","acceptedAt"});
with --batch, a line per notification in file order (with --json, one such object per line).
The gateway checks each chunk as a whole before it queues any of it: when a chunk fails, the
error names the line it stopped at and how many notifications were sent before it.
Exit codes: 0 accepted, 1 usage, 2 refused (e.g. validation-failed, unauthorized, rate-limited),
3 unreachable or 5xx (a 504 dispatcher-timeout may still be delivered: send again with the
same --idempotency-key).
`;

export const send: Command = {
  name: 'send',
  summary: 'send a notification (POST /notifications), or a file of them (--batch)',
  help,
  async run(args, out) {
    const { values, positionals } = parseCommand(
      'send',
      args,
      {
        ...commonOptions,
        ...apiOptions,
        title: { type: 'string' },
        body: { type: 'string' },
        data: { type: 'string' },
        'idempotency-key': { type: 'string' },
        batch: { type: 'string' },
        'batch-size': { type: 'string' },
      },
      (given) => (given.batch === undefined ? ['recipientId'] : []),
    );
    if (values.help) return printHelp(help);
    if (values.batch !== undefined) {
      const inline = (['title', 'body', 'data'] as const).filter((o) => values[o] !== undefined);
      if (inline.length > 0)
        throw usageError(`send: --${inline[0]} goes with <recipientId>; with --batch, put it on each line of the file`);
      const size =
        values['batch-size'] === undefined ? DEFAULT_BATCH_SIZE : parseCount('send', 'batch-size', values['batch-size'], MAX_BATCH_SIZE);
      // The whole file is read and checked before the first request.
      const lines = await readNotifications(values.batch);
      const gateway = gatewayValues(values);
      const target = await apiTarget(gateway);
      await explainingUnreachable(gateway.found, () =>
        sendInChunks({
          target,
          lines,
          size,
          out,
          ...(values['idempotency-key'] !== undefined && { idempotencyKey: values['idempotency-key'] }),
        }),
      );
      return EXIT.ok;
    }
    if (values['batch-size'] !== undefined) throw usageError('send: --batch-size goes with --batch');
    const recipientId = positionals[0]!;
    const data = values.data === undefined ? undefined : parseData(values.data);
    const gateway = gatewayValues(values);
    const target = await apiTarget(gateway);
    const key = values['idempotency-key'];
    const { body } = await explainingUnreachable(gateway.found, () =>
      request<Accepted>(target, 'POST', '/notifications', {
        body: {
          recipientId,
          ...(values.title !== undefined && { title: values.title }),
          ...(values.body !== undefined && { body: values.body }),
          ...(data && { data }),
        },
        ...(key !== undefined && { headers: { 'idempotency-key': key } }),
      }),
    );
    if (out.json) printJson(body);
    else
      printLines([`${paint(out, 'cyan', body.status)} ${paint(out, 'bold', body.notificationId)} to ${recipientId} at ${body.acceptedAt}`]);
    return EXIT.ok;
  },
};

function parseData(raw: string): Record<string, unknown> {
  let data: unknown;
  try {
    data = JSON.parse(raw);
  } catch (err) {
    throw usageError(`send: --data is not JSON: ${(err as Error).message}`);
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data))
    throw usageError('send: --data must be a JSON object, e.g. \'{"orderId":42}\'');
  return data as Record<string, unknown>;
}
