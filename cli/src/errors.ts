/**
 * Exit codes are the CLI's contract with scripts (`pushflow --help` and docs/cli.md list
 * them): each failure maps to exactly one, and the stable `code` printed on stderr says
 * which failure it was.
 */
export const EXIT = {
  ok: 0,
  /** Bad arguments or configuration: nothing was sent. */
  usage: 1,
  /** The API answered 4xx (other than 404): it refused this request. Retrying it as is will not help. */
  refused: 2,
  /** PushFlow (or its Redis, for `watch`) could not be reached, timed out, or answered 5xx: try again later. */
  unavailable: 3,
  /** No such notification (404). */
  notFound: 4,
  /** `status --wait`: the status was not reached within --timeout. */
  waitTimedOut: 5,
  /** `status --wait`: the notification ended in another terminal status than the one waited for. */
  waitOtherOutcome: 6,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export class CliError extends Error {
  readonly exitCode: ExitCode;
  /** Stable: a problem+json `type` for API answers, else an upper-case code such as UNREACHABLE. */
  readonly code: string;
  readonly details: Record<string, unknown>;
  constructor(exitCode: ExitCode, code: string, message: string, details: Record<string, unknown> = {}) {
    super(message);
    this.exitCode = exitCode;
    this.code = code;
    this.details = details;
  }
}

export function usageError(message: string): CliError {
  return new CliError(EXIT.usage, 'USAGE', message);
}
