import { connect, type Socket } from 'node:net';
import { once } from 'node:events';

/** One command Redis's MONITOR reported: its arguments (the name lower-cased) and its client. */
export type MonitoredCommand = { args: string[]; source: string };

export type RedisMonitor = {
  /** Every command seen since the monitor started, in Redis's order. */
  commands: MonitoredCommand[];
  close(): void;
};

/**
 * Watches a Redis server with MONITOR on a plain socket. ioredis's `monitor()` drops a line
 * that arrives in the same read as MONITOR's `+OK` (it only enters monitoring mode a
 * microtask later) and reports "Command queue state error", so a busy server made tests that
 * count commands flaky.
 */
export async function monitorRedis(url: string): Promise<RedisMonitor> {
  const { hostname, port, password, username } = new URL(url);
  const socket: Socket = connect({ host: hostname, port: Number(port || 6379) });
  await once(socket, 'connect');
  const commands: MonitoredCommand[] = [];
  let buffered = '';
  let started = false;
  // AUTH answers +OK too: MONITOR's is the last one.
  let pendingOks = password ? 2 : 1;
  const ok = new Promise<void>((resolve, reject) => {
    socket.setEncoding('latin1');
    socket.on('error', reject);
    socket.on('data', (chunk: string) => {
      buffered += chunk;
      let end = buffered.indexOf('\r\n');
      while (end !== -1) {
        const line = buffered.slice(0, end);
        buffered = buffered.slice(end + 2);
        end = buffered.indexOf('\r\n');
        if (!started && line.startsWith('-')) {
          reject(new Error(`MONITOR refused: ${line.slice(1)}`));
        } else if (!started && line === '+OK') {
          if (--pendingOks === 0) {
            started = true;
            resolve();
          }
        } else if (started) {
          const command = parseMonitorLine(line);
          if (command) commands.push(command);
        }
      }
    });
  });
  if (password) {
    const auth = username ? ['AUTH', decodeURIComponent(username), decodeURIComponent(password)] : ['AUTH', decodeURIComponent(password)];
    socket.write(encodeCommand(auth));
  }
  socket.write(encodeCommand(['MONITOR']));
  await ok;
  return { commands, close: () => socket.destroy() };
}

function encodeCommand(args: string[]): string {
  return `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;
}

/**
 * `+1796322134.025066 [0 127.0.0.1:32820] "XREAD" "COUNT" "1"`: each argument is quoted and
 * escaped the way Redis's sdscatrepr escapes (\\, \", \n, \r, \t, \a, \b and \xHH).
 */
export function parseMonitorLine(line: string): MonitoredCommand | undefined {
  const open = line.indexOf('[');
  const close = line.indexOf(']', open);
  if (!line.startsWith('+') || open === -1 || close === -1) return undefined;
  const source = line.slice(open + 1, close).split(' ')[1] ?? '';
  const args: string[] = [];
  let i = close + 1;
  while (i < line.length) {
    if (line[i] !== '"') {
      i++;
      continue;
    }
    let arg = '';
    i++;
    while (i < line.length && line[i] !== '"') {
      if (line[i] !== '\\') {
        arg += line[i++];
        continue;
      }
      const next = line[i + 1];
      if (next === 'x') {
        arg += String.fromCharCode(Number.parseInt(line.slice(i + 2, i + 4), 16));
        i += 4;
      } else {
        arg += ESCAPES[next ?? ''] ?? next ?? '';
        i += 2;
      }
    }
    i++;
    // Escapes give bytes; arguments are UTF-8.
    const text = Buffer.from(arg, 'latin1').toString('utf8');
    args.push(args.length === 0 ? text.toLowerCase() : text);
  }
  return { args, source };
}

const ESCAPES: Record<string, string> = { n: '\n', r: '\r', t: '\t', a: '\x07', b: '\b', '\\': '\\', '"': '"' };
