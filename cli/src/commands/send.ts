import { apiHelp, apiOptions, commonHelp, commonOptions, parseCommand } from '../args.ts';
import { apiTarget, request } from '../api.ts';
import { EXIT, usageError } from '../errors.ts';
import { paint, printHelp, printJson, printLines } from '../output.ts';
import type { Command } from './command.ts';

const help = `Usage: pushflow send <recipientId> [--title T] [--body B] [--data JSON] [--idempotency-key K]

Sends one notification (POST /notifications) and prints what the API answered.

  --title T              the notification's title
  --body B               its body
  --data JSON            a JSON object delivered as it is, e.g. '{"orderId":42}'
  --idempotency-key K    sending again with the same key and body makes no second notification
${apiHelp}
${commonHelp}

Prints the notification id (with --json: {"notificationId","status":"ACCEPTED","acceptedAt"}).
Exit codes: 0 accepted, 1 usage, 2 refused (e.g. validation-failed, unauthorized, rate-limited),
3 unreachable or 5xx (a 504 dispatcher-timeout may still be delivered: send again with the
same --idempotency-key).
`;

interface Accepted {
  notificationId: string;
  status: string;
  acceptedAt: string;
}

export const send: Command = {
  name: 'send',
  summary: 'send a notification (POST /notifications)',
  help,
  async run(args, out) {
    const { values, positionals } = parseCommand('send', args, {
      ...commonOptions, ...apiOptions,
      title: { type: 'string' }, body: { type: 'string' }, data: { type: 'string' }, 'idempotency-key': { type: 'string' },
    }, ['recipientId']);
    if (values.help) return printHelp(help);
    const recipientId = positionals[0]!;
    const data = values.data === undefined ? undefined : parseData(values.data);
    const target = await apiTarget(values);
    const key = values['idempotency-key'];
    const { body } = await request<Accepted>(target, 'POST', '/notifications', {
      body: { recipientId, ...(values.title !== undefined && { title: values.title }), ...(values.body !== undefined && { body: values.body }), ...(data && { data }) },
      ...(key !== undefined && { headers: { 'idempotency-key': key } }),
    });
    if (out.json) printJson(body);
    else printLines([`${paint(out, 'cyan', body.status)} ${paint(out, 'bold', body.notificationId)} to ${recipientId} at ${body.acceptedAt}`]);
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
  if (data === null || typeof data !== 'object' || Array.isArray(data)) throw usageError('send: --data must be a JSON object, e.g. \'{"orderId":42}\'');
  return data as Record<string, unknown>;
}
