import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { constants } from 'node:os';
import { fileURLToPath } from 'node:url';
import { replayEnv } from '../settings.ts';
import type { Command } from './command.ts';

const root = fileURLToPath(new URL('../../../', import.meta.url));

/**
 * A command that runs one of the repository's own scripts, with the arguments as given:
 * the script parses them, prints its own JSON and sets its own exit code, so the CLI adds
 * no second set of options to keep in step.
 */
function passthrough(name: string, script: string, summary: string, header: string, env = () => process.env): Command {
  return {
    name,
    summary,
    help: header,
    async run(args) {
      const wantsHelp = args.includes('--help') || args.includes('-h');
      if (wantsHelp) process.stdout.write(`${header}\n`);
      // These scripts always print JSON; --json is accepted for uniformity and not passed on.
      const forwarded = wantsHelp ? ['--help'] : args.filter((a) => a !== '--json');
      const child = spawn(`${root}scripts/node.sh`, [`${root}${script}`, ...forwarded], {
        stdio: 'inherit',
        env: env(),
      });
      // Ctrl-C reaches the child from the terminal too; it decides how to stop, we wait for it.
      const ignore = () => {};
      process.on('SIGINT', ignore);
      try {
        const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
        return code ?? 128 + (signal ? constants.signals[signal] : 0);
      } finally {
        process.off('SIGINT', ignore);
      }
    },
  };
}

export const replay = passthrough(
  'replay',
  'dispatcher/src/projection/replay-cli.ts',
  'rebuild the status documents from the ledger, optionally --compare (the ledger replay)',
  `Usage: pushflow replay [--collection NAME] [--compare]

Runs the ledger replay (dispatcher/src/projection/replay-cli.ts; also \`npm run ledger:replay\`). It keeps
its own exit codes: 0 done (with --compare: identical), 1 --compare found differences,
2 the replay failed (e.g. Redis or MongoDB unreachable). With neither REDIS_URL nor MONGO_URL
set, it replays the ledger of a running \`make dev\`. Its own help follows.
`,
  () => replayEnv(),
);

export const bench = passthrough(
  'bench',
  'load/bench.ts',
  'run the benchmark harness (load/bench.ts; also make bench), options passed through',
  `Usage: pushflow bench [options]

Runs the benchmark harness (load/bench.ts; also \`make bench\`) with these options. It keeps
its own exit codes: 0 every scenario verified, 1 usage error or a failure, 2 a scenario's
verification failed. Its own help follows.
`,
);
