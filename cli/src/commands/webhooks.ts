import { once } from 'node:events';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
// The events module alone: the package's index takes most of a second to import.
import { WEBHOOK_EVENT_TYPES as EVENTS } from '@pushflow/shared/webhook-events';
import { apiHelp, apiOptions, commonHelp, commonOptions, parseCommand, parseCount } from '../args.ts';
import { apiTarget, request, type ApiTarget } from '../api.ts';
import { EXIT, usageError } from '../errors.ts';
import { paint, printHelp, printJson, printLines, warn, type Output } from '../output.ts';
import { explainingUnreachable, gatewayValues } from '../settings.ts';
import type { Command } from './command.ts';

const MAX_BODY_BYTES = 1_048_576;

const help = `Usage: pushflow webhooks <add|list|rm|test|attempts|listen> [options]

  add URL [--events E,E] [--description TEXT]
                     POST /webhooks; prints the endpoint and its signing secret (shown only now)
  list               GET /webhooks
  rm ID              DELETE /webhooks/:id
  test ID            POST /webhooks/:id/test: sends a webhook.test message
  attempts ID [--limit N]
                     GET /webhooks/:id/attempts: the recent attempts, newest first
  listen [--port P] [--secret S] [--events E,E] [--count N]
                     a local receiver: verifies each message's signature (standardwebhooks)
                     and prints its event. Without --secret (env PUSHFLOW_WEBHOOK_SECRET) it
                     registers itself as an endpoint (http://127.0.0.1:<port>/) for as long as
                     it runs and deletes it on exit; that needs a dispatcher started with
                     PUSHFLOW_WEBHOOK_ALLOW_PRIVATE=true, as \`make dev\` does.

  --events E,E       of ${EVENTS.join(', ')}
                     (default: delivered, acknowledged, failed)
  --port P           listen: the port (default 0, any free one); it listens on 127.0.0.1
  --count N          listen: exit 0 after N verified messages
${apiHelp}
${commonHelp}

listen prints "listening on http://127.0.0.1:<port>/" on stderr once ready, then one line per
message: <timestamp> <type> <notificationId> <status> [reason] [recipient] [webhook-id]. A
message whose signature does not verify is answered 401 and reported on stderr; a message seen
again (same webhook-id: a retry) is answered 204 and printed once.
Exit codes: 0 ok (listen: --count reached, or Ctrl-C), 1 usage, 2 refused, 3 unreachable or
5xx, 4 no such endpoint.
`;

interface Endpoint {
  id: string;
  url: string;
  events: string[];
  enabled: boolean;
  description?: string;
  createdAt: string;
  secret?: string;
}

interface Attempt {
  messageId: string;
  event: string;
  notificationId?: string;
  attempt: number;
  outcome: string;
  status?: number;
  error?: string;
  latencyMs: number;
  at: string;
  nextRetryAt?: string;
}

const options = {
  ...commonOptions,
  ...apiOptions,
  events: { type: 'string' },
  description: { type: 'string' },
  limit: { type: 'string' },
  port: { type: 'string' },
  secret: { type: 'string' },
  count: { type: 'string' },
} as const;

const positionalsOf = (sub: string | undefined): string[] => {
  if (sub === 'add') return ['subcommand', 'url'];
  if (sub === 'rm' || sub === 'test' || sub === 'attempts') return ['subcommand', 'id'];
  return ['subcommand'];
};

export const webhooks: Command = {
  name: 'webhooks',
  summary: 'manage webhook endpoints (add, list, rm, test, attempts), or receive them locally (listen)',
  help,
  async run(args, out) {
    const sub = args.find((a) => !a.startsWith('-'));
    const { values, positionals } = parseCommand('webhooks', args, options, positionalsOf(sub));
    if (values.help) return printHelp(help);
    const gateway = gatewayValues(values);
    const api = async () => apiTarget(gateway);
    const call = <T>(target: ApiTarget, method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown) =>
      explainingUnreachable(gateway.found, () => request<T>(target, method, path, body === undefined ? {} : { body }));
    const id = positionals[1] ?? '';
    switch (sub) {
      case 'add': {
        const made = await call<Endpoint>(await api(), 'POST', '/webhooks', {
          url: positionals[1],
          ...(values.events !== undefined && { events: parseEvents(values.events) }),
          ...(values.description !== undefined && { description: values.description }),
        });
        if (out.json) printJson(made.body);
        else printLines([...describe(out, made.body), `  secret      ${made.body.secret} (shown only now)`]);
        return EXIT.ok;
      }
      case 'list': {
        const { body } = await call<{ webhooks: Endpoint[] }>(await api(), 'GET', '/webhooks');
        if (out.json) printJson(body);
        else printLines(body.webhooks.length === 0 ? ['no webhook endpoints'] : body.webhooks.flatMap((w) => describe(out, w)));
        return EXIT.ok;
      }
      case 'rm': {
        await call(await api(), 'DELETE', `/webhooks/${encodeURIComponent(id)}`);
        if (out.json) printJson({ id, deleted: true });
        else printLines([`deleted ${id}`]);
        return EXIT.ok;
      }
      case 'test': {
        const { body } = await call<{ messageId: string }>(await api(), 'POST', `/webhooks/${encodeURIComponent(id)}/test`);
        if (out.json) printJson(body);
        else printLines([`sent webhook.test ${body.messageId}`]);
        return EXIT.ok;
      }
      case 'attempts': {
        const limit = values.limit === undefined ? 50 : parseCount('webhooks', 'limit', values.limit, 1000);
        const { body } = await call<{ attempts: Attempt[] }>(
          await api(),
          'GET',
          `/webhooks/${encodeURIComponent(id)}/attempts?limit=${limit}`,
        );
        if (out.json) printJson(body);
        else printLines(body.attempts.length === 0 ? ['no attempts yet'] : body.attempts.map((a) => attemptLine(out, a)));
        return EXIT.ok;
      }
      case 'listen':
        return listenForWebhooks(values, out, api, call);
      default:
        throw usageError(
          `webhooks: ${sub === undefined ? 'missing' : `unknown subcommand ${JSON.stringify(sub)};`} one of add, list, rm, test, attempts, listen`,
        );
    }
  },
};

function parseEvents(raw: string): string[] {
  const events = raw.split(',').map((e) => e.trim());
  for (const e of events) {
    const full = e.startsWith('notification.') ? e : `notification.${e}`;
    if (!(EVENTS as readonly string[]).includes(full))
      throw usageError(`webhooks: --events: ${JSON.stringify(e)} is not one of ${EVENTS.join(', ')}`);
  }
  return events.map((e) => (e.startsWith('notification.') ? e : `notification.${e}`));
}

function describe(out: Output, w: Endpoint): string[] {
  return [
    `${paint(out, 'bold', w.id)} ${w.enabled ? paint(out, 'green', 'enabled') : paint(out, 'dim', 'disabled')} ${w.url}`,
    `  events      ${w.events.join(', ')}`,
    ...(w.description ? [`  description ${w.description}`] : []),
  ];
}

function attemptLine(out: Output, a: Attempt): string {
  const style = a.outcome === 'succeeded' ? 'green' : a.outcome === 'failed' ? 'red' : 'yellow';
  const answer = a.status !== undefined ? `HTTP ${a.status}` : (a.error ?? '');
  const next = a.nextRetryAt ? paint(out, 'dim', ` next ${a.nextRetryAt}`) : '';
  return `${a.at} ${paint(out, style, a.outcome.padEnd(9))} #${a.attempt} ${a.event} ${a.notificationId ?? ''} ${answer} ${a.latencyMs} ms ${paint(out, 'dim', a.messageId)}${next}`;
}

type Values = { port?: string; secret?: string; events?: string; count?: string };
type Call = <T>(target: ApiTarget, method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown) => Promise<{ body: T }>;

/**
 * The local receiver: an HTTP server on 127.0.0.1 that checks each message with the
 * standardwebhooks package, as an application's receiver would, and prints its event.
 */
async function listenForWebhooks(values: Values, out: Output, api: () => Promise<ApiTarget>, call: Call): Promise<number> {
  const port = values.port === undefined ? 0 : parseCount('webhooks', 'port', values.port, 65_535);
  const count = values.count === undefined ? undefined : parseCount('webhooks', 'count', values.count, 1_000_000);
  let secret = values.secret ?? (process.env.PUSHFLOW_WEBHOOK_SECRET || undefined);
  let verifier = secret === undefined ? undefined : new Webhook(secret);
  const seen = new Set<string>();
  let done: () => void = () => {};
  const finished = new Promise<void>((r) => (done = r));

  const server = createServer(async (req, res) => {
    const body = await readBody(req);
    if (req.method !== 'POST' || body === undefined || !verifier) {
      res.writeHead(req.method === 'POST' ? 413 : 405).end();
      return;
    }
    let payload: { type: string; timestamp: string; data: Record<string, string | undefined> };
    try {
      payload = verifier.verify(body, req.headers as Record<string, string>) as typeof payload;
    } catch (err) {
      warn(
        `refused a message whose signature does not verify (${(err as Error).message}); webhook-id ${String(req.headers['webhook-id'])}`,
      );
      res.writeHead(401).end();
      return;
    }
    res.writeHead(204).end();
    const id = String(req.headers['webhook-id']);
    if (seen.has(id)) return;
    seen.add(id);
    if (out.json) printJson({ webhookId: id, ...payload });
    else {
      const d = payload.data;
      const status = d.status === 'FAILED' ? paint(out, 'red', d.status) : paint(out, 'green', d.status ?? '');
      printLines([
        [
          payload.timestamp,
          paint(out, 'bold', payload.type),
          d.notificationId ?? '',
          status,
          d.reason ?? '',
          d.recipientId ?? '',
          paint(out, 'dim', id),
        ]
          .filter((p) => p !== '')
          .join(' '),
      ]);
    }
    if (count !== undefined && seen.size >= count) done();
  });
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;

  let registered: string | undefined;
  let target: ApiTarget | undefined;
  if (secret === undefined) {
    target = await api();
    try {
      const made = await call<Endpoint>(target, 'POST', '/webhooks', {
        url,
        description: 'pushflow webhooks listen',
        ...(values.events !== undefined && { events: parseEvents(values.events) }),
      });
      registered = made.body.id;
      secret = made.body.secret!;
      verifier = new Webhook(secret);
    } catch (err) {
      server.close();
      throw err;
    }
  }
  process.stderr.write(`listening on ${url}${registered ? ` as webhook endpoint ${registered}` : ''} (Ctrl-C to stop)\n`);
  const stop = () => done();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  await finished;
  server.closeAllConnections();
  server.close();
  if (registered && target) {
    await call(target, 'DELETE', `/webhooks/${registered}`).catch((err: Error) =>
      warn(`could not delete webhook endpoint ${registered}: ${err.message}`),
    );
  }
  return EXIT.ok;
}

async function readBody(req: IncomingMessage): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) return undefined;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}
