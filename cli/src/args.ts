import { parseArgs, type ParseArgsConfig } from 'node:util';
import { usageError } from './errors.ts';

type Options = NonNullable<ParseArgsConfig['options']>;

/** Options every command takes. */
export const commonOptions = {
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const satisfies Options;

/** Options of the commands that talk to the HTTP API. */
export const apiOptions = {
  url: { type: 'string' },
  'api-key': { type: 'string' },
} as const satisfies Options;

export const commonHelp = `  --json             print one JSON document on stdout instead of lines for a person
  -h, --help         this text`;

export const apiHelp = `  --url URL          the gateway (env PUSHFLOW_URL; else a running \`make dev\`'s; else
                     http://localhost:3000)
  --api-key KEY      an API key (env PUSHFLOW_API_KEY or PUSHFLOW_API_KEY_FILE; else a running
                     \`make dev\`'s, for its gateway; see pushflow --help)`;

/**
 * node:util parseArgs, strict, with its errors turned into usage errors (exit 1).
 * `positionals` names the positional arguments the command requires, in order; a function
 * names them from the options given, for a command whose options change what it takes.
 */
export function parseCommand<O extends Options>(
  command: string,
  args: string[],
  options: O,
  required: string[] | ((values: Record<string, unknown>) => string[]) = [],
) {
  let parsed;
  try {
    parsed = parseArgs({ args, options, strict: true, allowPositionals: true });
  } catch (err) {
    throw usageError(`${command}: ${(err as Error).message}`);
  }
  const values = parsed.values as { help?: boolean; json?: boolean };
  const positionals = typeof required === 'function' ? required(parsed.values) : required;
  if (!values.help) {
    if (parsed.positionals.length < positionals.length) {
      throw usageError(
        `${command}: missing ${positionals
          .slice(parsed.positionals.length)
          .map((p) => `<${p}>`)
          .join(' ')}`,
      );
    }
    if (parsed.positionals.length > positionals.length) {
      throw usageError(`${command}: unexpected argument ${JSON.stringify(parsed.positionals[positionals.length])}`);
    }
  }
  return parsed;
}

/** A whole number from 1 to `max`. */
export function parseCount(command: string, option: string, raw: string, max: number): number {
  if (!/^[1-9]\d*$/.test(raw) || Number(raw) > max)
    throw usageError(`${command}: --${option} must be a whole number from 1 to ${max} (got ${JSON.stringify(raw)})`);
  return Number(raw);
}

/** A whole number of seconds (or a decimal one where `fractional`), > 0. */
export function parseSeconds(command: string, option: string, raw: string, fractional = false): number {
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(n) || n <= 0 || (!fractional && !Number.isInteger(n))) {
    throw usageError(
      `${command}: --${option} must be a ${fractional ? '' : 'whole '}number of seconds above 0 (got ${JSON.stringify(raw)})`,
    );
  }
  return n;
}
