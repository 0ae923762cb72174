import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort, redisServer, waitForPort, type Server } from '../../local-stack/servers.ts';
import { centrifugoConfig } from './config.ts';

/**
 * A Centrifugo the harness starts itself: its own Redis (redisServer, as PushFlow's stack
 * gets one), a free loopback port, a temporary folder with its config file and log. It
 * fails loudly: `checkconfig --strict` must accept the file, the process must serve
 * /api/info with our key, and its log must hold no error at start. stop() ends both.
 */
export interface CentrifugoServer {
  httpUrl: string;
  wsUrl: string;
  apiKey: string;
  hmacSecret: string;
  /** As the running server reports it (/api/info), e.g. "6.9.1 OSS". */
  version: string;
  redisUrl: string;
  pid: number;
  /** Its Redis's process, when started here as a local binary. */
  redisPid?: number;
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of running) c.kill('SIGKILL');
});

export async function startCentrifugo(binary: string): Promise<CentrifugoServer> {
  const dir = mkdtempSync(join(tmpdir(), 'pushflow-centrifugo-'));
  const logFile = join(dir, 'centrifugo.log');
  const logTail = () => {
    try {
      return readFileSync(logFile, 'utf8').trim().split('\n').slice(-20).join('\n');
    } catch {
      return '(no log)';
    }
  };
  let redis: Server | undefined;
  let child: ChildProcess | undefined;
  try {
    redis = await redisServer();
    const port = await freePort();
    const apiKey = randomBytes(16).toString('hex');
    const hmacSecret = randomBytes(32).toString('hex');
    const configFile = join(dir, 'config.json');
    const config = centrifugoConfig({
      port,
      redisUrl: redis.url,
      redisPrefix: `centrifugo-bench-${randomBytes(3).toString('hex')}`,
      apiKey,
      hmacSecret,
    });
    writeFileSync(configFile, JSON.stringify(config, null, 2));
    await checkConfig(binary, configFile);

    const log = openSync(logFile, 'a');
    const started = spawn(binary, ['--config', configFile], { cwd: dir, stdio: ['ignore', log, log] });
    child = started;
    running.add(started);
    started.once('exit', () => running.delete(started));
    await waitForPort(port, 20_000, () => started.exitCode !== null || started.signalCode !== null);
    const httpUrl = `http://127.0.0.1:${port}`;
    const version = await serverVersion(httpUrl, apiKey);
    const lines = readFileSync(logFile, 'utf8').split('\n');
    const errors = lines.filter((line) => /"level":"(error|fatal|panic)"/.test(line));
    if (errors.length > 0) throw new Error(`Centrifugo logged errors at start:\n${errors.join('\n')}`);
    if (!lines.some((line) => line.includes('"message":"starting Centrifugo"') && line.includes('"engine":"redis"'))) {
      throw new Error('Centrifugo did not log that it started with the Redis engine');
    }

    const server = redis;
    return {
      httpUrl,
      wsUrl: `ws://127.0.0.1:${port}/connection/websocket`,
      apiKey,
      hmacSecret,
      version,
      redisUrl: redis.url,
      pid: started.pid!,
      ...(redis.pid && { redisPid: redis.pid }),
      async stop() {
        const code = await stopProcess(started);
        await server.stop();
        const tail = logTail();
        rmSync(dir, { recursive: true, force: true });
        if (code !== 0) throw new Error(`centrifugo did not exit 0 on SIGTERM (${code}):\n${tail}`);
      },
    };
  } catch (err) {
    if (child) await stopProcess(child);
    await redis?.stop();
    const tail = logTail();
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`Centrifugo (${binary}) did not start: ${(err as Error).message}\nits log:\n${tail}`);
  }
}

/** `centrifugo checkconfig --strict`: fails on any key it does not know, or a bad value. */
async function checkConfig(binary: string, file: string): Promise<void> {
  try {
    await promisify(execFile)(binary, ['checkconfig', '--strict', '--config', file], { timeout: 20_000 });
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`centrifugo checkconfig refused ${file}: ${`${e.stderr ?? ''}${e.stdout ?? ''}`.trim() || e.message}`);
  }
}

/** /api/info answered with our key: the server is up, takes the key, and says its version. */
async function serverVersion(httpUrl: string, apiKey: string): Promise<string> {
  const res = await fetch(`${httpUrl}/api/info`, {
    method: 'POST',
    headers: { 'x-api-key': apiKey, 'content-type': 'application/json' },
    body: '{}',
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  const version =
    res.status === 200 ? (JSON.parse(text) as { result?: { nodes?: { version?: string }[] } }).result?.nodes?.[0]?.version : undefined;
  if (!version) throw new Error(`POST /api/info answered ${res.status}: ${text.slice(0, 500)}`);
  return version;
}

async function stopProcess(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  const code = await exited;
  clearTimeout(timer);
  return code;
}
