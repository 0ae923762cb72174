/**
 * `pushflow`: the command line for PushFlow. cli/bin/pushflow runs this file with scripts/node.sh.
 * Each command lives in commands/; this file picks one, prints its errors and exits with
 * the code the error stands for (errors.ts).
 */
import { readFileSync } from 'node:fs';
import { CliError, EXIT, usageError } from './errors.ts';
import { outputFor, printError, printHelp } from './output.ts';
import type { Command } from './commands/command.ts';
import { listen } from './commands/listen.ts';
import { bench, replay } from './commands/passthrough.ts';
import { send } from './commands/send.ts';
import { status } from './commands/status.ts';
import { token } from './commands/token.ts';
import { watch } from './commands/watch.ts';
import { webhooks } from './commands/webhooks.ts';

const commands: Command[] = [send, status, watch, listen, token, webhooks, replay, bench];

const help = `Usage: pushflow <command> [options]      pushflow <command> --help for its options

Commands:
${commands.map((c) => `  ${c.name.padEnd(8)} ${c.summary}`).join('\n')}

Every command takes --help, and --json to print one JSON document on stdout (watch: one per
event; send --batch: one per notification) instead of lines for a person. Colours only when stdout is a terminal and NO_COLOR is
unset. Errors go to stderr, as "pushflow: error <code>: <message>" (with --json, a JSON
object {"error":{code, exitCode, message, status?, type?}}); <code> is the problem+json
type for an API refusal (e.g. urn:pushflow:problem:unauthorized) or a fixed code
(USAGE, UNREACHABLE, SERVER_ERROR, REDIS_UNREACHABLE, WAIT_TIMEOUT, WAIT_OTHER_OUTCOME).

Environment:
  PUSHFLOW_URL       the gateway (--url); default http://localhost:3000
  PUSHFLOW_API_KEY   an API key (--api-key, which other users of the machine can see in ps);
                     or PUSHFLOW_API_KEY_FILE, a file holding it. With none, the development key
                     dev-only-api-key-change-me is used for a gateway on localhost / 127.0.0.1 /
                     [::1] only, with a warning on stderr; any other host is a usage error.
  REDIS_URL, PUSHFLOW_REDIS_PREFIX               watch (--redis, --prefix)
  PUSHFLOW_CONNECT_SECRET(_ID), PUSHFLOW_TOKEN_AUDIENCE   token --local
  NO_COLOR           no colours, whatever stdout is

Exit codes:
  0  ok
  1  usage error: unknown command or option, bad value, missing configuration
  2  the API refused the request (4xx other than 404; the problem type is printed)
  3  PushFlow unreachable, timed out or answered 5xx (watch: Redis unreachable or lost)
  4  not found (status of an unknown notification id)
  5  status --wait timed out
  6  status --wait: the notification ended in another terminal status (e.g. FAILED)
  replay and bench exit with the codes of the scripts they run (see their --help).
`;

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  return `pushflow ${pkg.version}\n`;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) {
    process.stderr.write(help);
    return EXIT.usage;
  }
  if (name === '--help' || name === '-h') return printHelp(help);
  if (name === '--version') {
    process.stdout.write(version());
    return EXIT.ok;
  }
  if (name === 'help') {
    const topic = rest[0] === undefined ? undefined : commands.find((c) => c.name === rest[0]);
    if (rest[0] !== undefined && topic === undefined)
      throw usageError(`no command ${JSON.stringify(rest[0])}; commands: ${commands.map((c) => c.name).join(', ')}`);
    return printHelp(topic?.help ?? help);
  }
  const command = commands.find((c) => c.name === name);
  if (!command) throw usageError(`no command ${JSON.stringify(name)}; commands: ${commands.map((c) => c.name).join(', ')}`);
  return command.run(rest, outputFor(rest.includes('--json')));
}

// A closed pipe (`pushflow watch | head`) is the reader being done, not an error.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(EXIT.ok);
  throw err;
});

const argv = process.argv.slice(2);
let code: number;
try {
  code = await main(argv);
} catch (err) {
  if (!(err instanceof CliError)) throw err;
  printError(err, argv.includes('--json'));
  code = err.exitCode;
}
// Open handles (keep-alive sockets) must not keep a finished command alive.
process.exitCode = code;
setImmediate(() => process.exit(code));
