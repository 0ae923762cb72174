/**
 * One progress line on stderr: rewritten in place on a terminal, a plain line every few
 * seconds otherwise (logs, CI), so stdout carries nothing but the JSON documents.
 */
export interface Progress {
  stop(): void;
  note(line: string): void;
}

export function startProgress(label: string, describe: () => string): Progress {
  const tty = process.stderr.isTTY === true;
  const write = () => {
    if (tty) process.stderr.write(`\r\x1b[2K[${label}] ${describe()}`);
    else process.stderr.write(`[${label}] ${describe()}\n`);
  };
  const timer = setInterval(write, tty ? 250 : 2000);
  return {
    note(line) {
      if (tty) process.stderr.write('\r\x1b[2K');
      process.stderr.write(`[${label}] ${line}\n`);
    },
    stop() {
      clearInterval(timer);
      write();
      if (tty) process.stderr.write('\n');
    },
  };
}
