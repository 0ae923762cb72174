import { type CliError, EXIT } from './errors.ts';

/** How a command prints: one JSON document (--json) or lines for a person. */
export interface Output {
  json: boolean;
  /** ANSI colours: only on a terminal, and never when NO_COLOR is set (https://no-color.org). */
  color: boolean;
}

export function outputFor(json: boolean): Output {
  const noColor = process.env.NO_COLOR !== undefined && process.env.NO_COLOR !== '';
  return { json, color: !json && process.stdout.isTTY === true && !noColor };
}

const SGR = { bold: 1, dim: 2, red: 31, green: 32, yellow: 33, blue: 34, magenta: 35, cyan: 36 } as const;
export type Style = keyof typeof SGR;

export function paint(out: Output, style: Style, text: string): string {
  return out.color ? `\u001b[${SGR[style]}m${text}\u001b[0m` : text;
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

export function printLines(lines: string[]): void {
  process.stdout.write(`${lines.join('\n')}\n`);
}

/** Errors go to stderr only, so stdout holds nothing but the answer (or nothing). */
export function printError(err: CliError, json: boolean): void {
  if (json) {
    process.stderr.write(
      `${JSON.stringify({ error: { code: err.code, exitCode: err.exitCode, message: err.message, ...err.details } })}\n`,
    );
    return;
  }
  const hint = err.exitCode === EXIT.usage ? `\n(pushflow --help for usage)` : '';
  process.stderr.write(`pushflow: error ${err.code}: ${err.message}${hint}\n`);
}

export function warn(message: string): void {
  process.stderr.write(`pushflow: warning: ${message}\n`);
}

export function printHelp(text: string): typeof EXIT.ok {
  process.stdout.write(text);
  return EXIT.ok;
}
