import type { Output } from '../output.ts';

/** One `pushflow <name>` command: it prints its answer and resolves with the exit code. */
export interface Command {
  name: string;
  /** One line for `pushflow --help`. */
  summary: string;
  help: string;
  /** `json` is known before run() parses, so that usage errors are printed the same way. */
  run(args: string[], out: Output): Promise<number>;
}
