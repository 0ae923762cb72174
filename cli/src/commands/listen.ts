// The tokens module alone: the package's index takes most of a second to import.
import { unverifiedClaims } from '@pushflow/shared/tokens';
import { commonHelp, commonOptions, parseCommand, parseCount, parseSeconds } from '../args.ts';
import { CliError, EXIT, type ExitCode, usageError } from '../errors.ts';
import { paint, printHelp, printJson, type Output } from '../output.ts';
import { DEFAULT_WS_URL, deliveryUrl } from '../settings.ts';
import type { Command } from './command.ts';

const MAX_COUNT = 1_000_000;
/** How long a finished listen waits for the node to answer its close before exiting anyway. */
const CLOSE_WAIT_MS = 2000;

const help = `Usage: pushflow listen --token TOKEN [--url URL] [--no-ack] [--count N [--timeout S]]

A WebSocket client of one user: connects to <url>/ws?token=<token> like an application's
client, prints each notification it receives and acknowledges it (its status becomes
ACKNOWLEDGED). Reads nothing from stdin, so it can run in the background (&).

  --token TOKEN      a connect token (pushflow token <recipientId>, or POST /connect-tokens)
  --url URL          a delivery node (env PUSHFLOW_WS_URL; else ${DEFAULT_WS_URL})
  --no-ack           do not acknowledge: the notifications stay DELIVERED
  --count N          exit 0 once N notifications have come
  --timeout S        give up after S seconds (exit 5) if --count notifications have not come;
                     only with --count
${commonHelp}  (with listen: each notification frame as the node sent it, one per line)

Prints "listening as <recipient> on <url>" on stderr once connected, then one line per
notification: <acceptedAt> <notificationId> "<title>" <body> <data>. A notification sent
again (delivery is at least once) is acknowledged again but printed and counted once.
Exit codes: 0 --count reached, or stopped with Ctrl-C (SIGINT) or SIGTERM; 1 usage;
2 closed by the node for a reason retrying will not fix (4001 token invalid or missing, 4003
token expired, 4008, 4009, 1003, 1009); 3 unreachable, or closed otherwise (1001 node going
away, 1006 connection lost, 1013, 4010); 5 --timeout passed before --count notifications.
`;

/** A notification frame (docs/api.md, "WebSocket protocol"). */
interface NotificationFrame {
  type: 'notification';
  notificationId: string;
  title?: string;
  body?: string;
  data?: unknown;
  acceptedAt?: string;
}

/** Close codes after which the same connection would be closed again: the client must change something first. */
const FINAL_CLOSES = new Set([1003, 1009, 4001, 4003, 4008, 4009]);

export const listen: Command = {
  name: 'listen',
  summary: "a user's WebSocket client: print and ack each notification it receives",
  help,
  async run(args, out) {
    const { values } = parseCommand('listen', args, {
      ...commonOptions,
      token: { type: 'string' },
      url: { type: 'string' },
      'no-ack': { type: 'boolean', default: false },
      count: { type: 'string' },
      timeout: { type: 'string' },
    });
    if (values.help) return printHelp(help);
    if (values.token === undefined || values.token === '') throw usageError('listen: --token is required (a connect token)');
    const count = values.count === undefined ? undefined : parseCount('listen', 'count', values.count, MAX_COUNT);
    if (values.timeout !== undefined && count === undefined) throw usageError('listen: --timeout goes with --count');
    const timeoutS = values.timeout === undefined ? undefined : parseSeconds('listen', 'timeout', values.timeout, true);
    const base = wsBase(deliveryUrl(values));
    return listenOn(`${base}/ws?token=${encodeURIComponent(values.token)}`, {
      shownUrl: base,
      recipient: tokenSubject(values.token),
      ack: !values['no-ack'],
      count,
      timeoutS,
      out,
    });
  },
};

interface ListenOptions {
  /** The URL without the token, the only one ever printed: the token is a credential. */
  shownUrl: string;
  recipient: string | undefined;
  ack: boolean;
  count: number | undefined;
  timeoutS: number | undefined;
  out: Output;
}

function listenOn(url: string, opts: ListenOptions): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const ws = new WebSocket(url);
    const seen = new Set<string>();
    let opened = false;
    let outcome: { code: number } | { error: CliError } | undefined;
    let timer: NodeJS.Timeout | undefined;

    // Ends the listen: closes the socket and settles once the close is done (or has taken too
    // long), so that a last ack is on the wire before the process exits.
    const finish = (result: { code: number } | { error: CliError }) => {
      if (outcome) return;
      outcome = result;
      clearTimeout(timer);
      if (ws.readyState === WebSocket.CLOSED) return settle();
      setTimeout(settle, CLOSE_WAIT_MS).unref();
      ws.close(1000, 'done');
    };
    let settled = false;
    const settle = () => {
      if (settled) return;
      settled = true;
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      if (outcome && 'error' in outcome) reject(outcome.error);
      else resolve(outcome?.code ?? EXIT.ok);
    };
    const stop = () => finish({ code: EXIT.ok });
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);

    if (opts.timeoutS !== undefined) {
      const timeoutS = opts.timeoutS;
      timer = setTimeout(() => {
        const error = new CliError(
          EXIT.waitTimedOut,
          'WAIT_TIMEOUT',
          `listen: ${seen.size} of ${opts.count} notification${opts.count === 1 ? '' : 's'} after ${timeoutS} s`,
          { received: seen.size },
        );
        finish({ error });
      }, timeoutS * 1000);
    }

    ws.addEventListener('open', () => {
      opened = true;
      process.stderr.write(`listening${opts.recipient ? ` as ${opts.recipient}` : ''} on ${opts.shownUrl} (Ctrl-C to stop)\n`);
    });
    ws.addEventListener('message', (event) => {
      if (outcome) return;
      const frame = parseFrame(event.data);
      if (!frame) return;
      if (opts.ack) ws.send(JSON.stringify({ type: 'ack', notificationId: frame.notificationId }));
      if (seen.has(frame.notificationId)) return;
      seen.add(frame.notificationId);
      printFrame(opts.out, frame);
      if (opts.count !== undefined && seen.size >= opts.count) finish({ code: EXIT.ok });
    });
    ws.addEventListener('close', (event) => {
      clearTimeout(timer);
      outcome ??= { error: closedError(opts.shownUrl, opened, event.code, event.reason) };
      settle();
    });
  });
}

/** What a close the listen did not ask for means; a socket that never opened could not reach the node. */
function closedError(url: string, opened: boolean, code: number, reason: string): CliError {
  if (!opened) return new CliError(EXIT.unavailable, 'UNREACHABLE', `cannot open a WebSocket to ${url}/ws (${code})`, { closeCode: code });
  const exitCode: ExitCode = FINAL_CLOSES.has(code) ? EXIT.refused : EXIT.unavailable;
  const why = reason ? ` ${JSON.stringify(reason)}` : code === 1006 ? ' (connection lost)' : '';
  return new CliError(exitCode, 'CLOSED', `the delivery node closed the connection with ${code}${why}`, {
    closeCode: code,
    reason,
  });
}

/** Frames that are not notifications (none today) are skipped, as docs/api.md asks of clients. */
function parseFrame(data: unknown): NotificationFrame | undefined {
  if (typeof data !== 'string') return undefined;
  let frame: unknown;
  try {
    frame = JSON.parse(data);
  } catch {
    return undefined;
  }
  const f = frame as Partial<NotificationFrame> | null;
  return f?.type === 'notification' && typeof f.notificationId === 'string' ? (f as NotificationFrame) : undefined;
}

function printFrame(out: Output, frame: NotificationFrame): void {
  if (out.json) {
    printJson(frame);
    return;
  }
  const parts = [
    paint(out, 'dim', frame.acceptedAt ?? '-'),
    paint(out, 'cyan', frame.notificationId),
    ...(frame.title !== undefined ? [paint(out, 'bold', JSON.stringify(frame.title))] : []),
    ...(frame.body !== undefined ? [frame.body] : []),
    ...(frame.data !== undefined ? [JSON.stringify(frame.data)] : []),
  ];
  process.stdout.write(`${parts.join(' ')}\n`);
}

/** ws:// or wss:// without a trailing slash or /ws; http(s):// is taken for the same host. */
function wsBase(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw usageError(`listen: --url must be a ws:// or wss:// URL (got ${JSON.stringify(raw)})`);
  }
  const scheme = { 'ws:': 'ws:', 'wss:': 'wss:', 'http:': 'ws:', 'https:': 'wss:' }[url.protocol];
  if (scheme === undefined || url.search !== '' || url.hash !== '')
    throw usageError(`listen: --url must be a ws:// or wss:// URL with no query (got ${JSON.stringify(raw)})`);
  url.protocol = scheme;
  return url.href.replace(/\/$/, '').replace(/\/ws$/, '');
}

/** The token's `sub`, read without verifying (the node verifies), only to say who is listening. */
function tokenSubject(token: string): string | undefined {
  const sub = unverifiedClaims(token)?.sub;
  return typeof sub === 'string' ? sub : undefined;
}
