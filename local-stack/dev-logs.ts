import { prettyFactory } from 'pino-pretty';

/**
 * How `make dev` shows a service's output line: on a terminal, a pino JSON line becomes one
 * readable line (pino-pretty); anywhere else (a pipe, a file, CI) it stays JSON, for tools.
 * The services write JSON either way.
 */
export function devLineFormatter(terminal: boolean): (line: string) => string {
  if (!terminal) return (line) => line;
  const pretty = prettyFactory({
    colorize: true,
    singleLine: true,
    translateTime: 'SYS:HH:MM:ss.l',
    // The label make dev prints before each line already names the service.
    ignore: 'pid,hostname,service,name',
  });
  return (line) => (line.startsWith('{') ? pretty(line).trimEnd() : line);
}
