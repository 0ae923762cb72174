import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, openSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

/**
 * Real Redis and MongoDB-protocol servers for tests and `make dev`, found in this order:
 * URLs from the environment; testcontainers when a Docker engine answers; local binaries
 * started on free ports in temporary folders. Tests isolate themselves with their own
 * key prefix and database name, so one server may serve many tests.
 */
export interface Server {
  url: string;
  /** Where it came from: env, container or the binary's path. */
  source: string;
  /** The password the server requires, for a server started with one. */
  password?: string;
  /** The server's process, when it is a local binary started here (the bench reports its CPU). */
  pid?: number;
  /** The temporary folder holding its data, when it is a local binary started here; removed by stop(). */
  dir?: string;
  stop(): Promise<void>;
}

const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

/**
 * With `password`, the server requires it (requirepass) and `url` carries it. A URL from the
 * environment serves then only when it carries a password of its own (reported as
 * `password`): a server without one would prove nothing about authentication. `preferPort`
 * as for mongoServer.
 */
export async function redisServer(opts: { password?: string; preferPort?: number } = {}): Promise<Server> {
  const fromEnv = process.env.TEST_REDIS_URL ?? process.env.REDIS_URL;
  const envPassword = fromEnv ? urlPassword(fromEnv) : undefined;
  if (fromEnv && (opts.password === undefined || envPassword)) {
    return { url: fromEnv, source: 'env', password: envPassword, stop: async () => {} };
  }
  const { password } = opts;
  const auth = password === undefined ? '' : `:${encodeURIComponent(password)}@`;
  const requirepass = password === undefined ? [] : ['--requirepass', password];
  const withPassword = (server: Server): Server => ({ ...server, password });
  if (await dockerAnswers()) {
    return withPassword(
      await container('redis:7', 6379, (h, p) => `redis://${auth}${h}:${p}`, opts.preferPort, ['redis-server', ...requirepass]),
    );
  }
  const bin = findBinary('redis-server');
  if (!bin)
    throw new MissingBinary('redis-server', 'apt-get install redis-server (Debian/Ubuntu), brew install redis (macOS), or set REDIS_URL');
  return withPassword(
    await localProcess(
      bin,
      (dir, port) => ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', ...requirepass],
      (port) => `redis://${auth}127.0.0.1:${port}`,
      opts.preferPort,
    ),
  );
}

function urlPassword(url: string): string | undefined {
  try {
    return decodeURIComponent(new URL(url).password) || undefined;
  } catch {
    return undefined;
  }
}

/** `preferPort` (`make dev`: 6379 and 27017, the ports other tools expect): used when it is free; tests take any free port. */
export async function mongoServer(opts: { preferPort?: number } = {}): Promise<Server> {
  const fromEnv = process.env.TEST_MONGO_URL ?? process.env.MONGO_URL;
  if (fromEnv) return { url: fromEnv, source: 'env', stop: async () => {} };
  if (await dockerAnswers()) return container('mongo:7', 27017, (h, p) => `mongodb://${h}:${p}/pushflow`, opts.preferPort);
  const mongod = findBinary('mongod');
  if (mongod) {
    return localProcess(
      mongod,
      (dir, port) => ['--port', String(port), '--bind_ip', '127.0.0.1', '--dbpath', dir, '--quiet'],
      (port) => `mongodb://127.0.0.1:${port}/pushflow`,
      opts.preferPort,
    );
  }
  const ferret = findFerretDB();
  if (!ferret) {
    throw new MissingBinary(
      'mongod or ferretdb',
      'run scripts/install-ferretdb.sh (builds FerretDB with Go), install MongoDB, or set MONGO_URL',
    );
  }
  return localProcess(
    ferret,
    (dir, port) => [
      '--handler=sqlite',
      `--sqlite-url=file:${dir}/?_txlock=immediate`,
      `--listen-addr=127.0.0.1:${port}`,
      '--debug-addr=127.0.0.1:0',
      '--telemetry=disable',
      `--state-dir=${dir}`,
      '--log-level=warn',
    ],
    (port) => `mongodb://127.0.0.1:${port}/pushflow`,
    opts.preferPort,
  );
}

export class MissingBinary extends Error {
  constructor(binary: string, hint: string) {
    super(`${binary} not found on PATH: ${hint}`);
    this.name = 'MissingBinary';
  }
}

export function findBinary(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const p = join(dir, name);
    if (dir && existsSync(p)) return p;
  }
  return undefined;
}

function findFerretDB(): string | undefined {
  const explicit = process.env.PUSHFLOW_FERRETDB_BIN;
  if (explicit && existsSync(explicit)) return explicit;
  const cache = process.env.PUSHFLOW_CACHE_DIR ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'pushflow');
  const cached = join(cache, 'bin', 'ferretdb');
  return findBinary('ferretdb') ?? (existsSync(cached) ? cached : undefined);
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/** `port` when nothing listens on it, else one freePort() finds. */
async function portOrFree(port: number | undefined): Promise<number> {
  if (port === undefined) return freePort();
  const free = await new Promise<boolean>((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
  return free ? port : freePort();
}

async function localProcess(
  bin: string,
  args: (dir: string, port: number) => string[],
  url: (port: number) => string,
  preferPort?: number,
): Promise<Server> {
  const dir = mkdtempSync(join(tmpdir(), 'pushflow-srv-'));
  const port = await portOrFree(preferPort);
  const log = openSync(join(dir, 'server.log'), 'a');
  const child = spawn(bin, args(dir, port), { stdio: ['ignore', log, log], cwd: dir });
  children.add(child);
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  try {
    await waitForPort(port, 20_000, () => child.exitCode !== null);
  } catch (err) {
    child.kill('SIGKILL');
    throw new Error(`${bin} did not start (log in ${dir}/server.log): ${(err as Error).message}`);
  }
  return {
    url: url(port),
    source: bin,
    pid: child.pid!,
    dir,
    async stop() {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
      children.delete(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function waitForPort(port: number, timeoutMs: number, gaveUp: () => boolean = () => false): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (gaveUp()) throw new Error('process exited');
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`port ${port} not open after ${timeoutMs} ms`);
}

let dockerChecked: Promise<boolean> | undefined;
function dockerAnswers(): Promise<boolean> {
  if (process.env.PUSHFLOW_TEST_NO_DOCKER) return Promise.resolve(false);
  dockerChecked ??= (async () => {
    const socket = process.env.DOCKER_HOST?.replace(/^unix:\/\//, '') ?? '/var/run/docker.sock';
    if (!existsSync(socket)) return false;
    return new Promise<boolean>((resolve) => {
      const s = connect(socket);
      s.setTimeout(1000);
      s.once('connect', () => s.end('GET /_ping HTTP/1.0\r\n\r\n'));
      s.once('data', (d) => {
        resolve(d.toString().includes(' 200 '));
        s.destroy();
      });
      s.once('error', () => resolve(false));
      s.once('timeout', () => {
        resolve(false);
        s.destroy();
      });
    });
  })();
  return dockerChecked;
}

async function container(
  image: string,
  port: number,
  url: (host: string, port: number) => string,
  preferPort?: number,
  command?: string[],
): Promise<Server> {
  const { GenericContainer } = await import('testcontainers');
  const host = preferPort === undefined ? undefined : await portOrFree(preferPort);
  const definition = new GenericContainer(image).withExposedPorts(host === undefined ? port : { container: port, host });
  const started = await (command ? definition.withCommand(command) : definition).start();
  return {
    url: url(started.getHost(), started.getMappedPort(port)),
    source: `container ${image}`,
    stop: async () => {
      await started.stop();
    },
  };
}

export interface RestartableServer extends Server {
  /** SIGKILL, as a crash would. */
  kill(): Promise<void>;
  /** Starts it again on the same port and data folder. */
  start(): Promise<void>;
}

/**
 * A local redis-server the fault tests can kill -9 and restart with its data: AOF on,
 * fsync policy as asked (`always` so an acknowledged write survives the kill).
 */
export async function restartableRedis(appendfsync: 'always' | 'everysec' = 'always'): Promise<RestartableServer> {
  const bin = findBinary('redis-server');
  if (!bin) throw new MissingBinary('redis-server', 'apt-get install redis-server');
  const dir = mkdtempSync(join(tmpdir(), 'pushflow-redis-'));
  const port = await freePort();
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  const start = async () => {
    const log = openSync(join(dir, 'server.log'), 'a');
    const c = spawn(
      bin,
      ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'yes', '--appendfsync', appendfsync],
      { stdio: ['ignore', log, log], cwd: dir },
    );
    child = c;
    children.add(c);
    exited = new Promise<void>((r) =>
      c.once('exit', () => {
        children.delete(c);
        r();
      }),
    );
    await waitForPort(port, 20_000, () => c.exitCode !== null);
  };
  const kill = async () => {
    child?.kill('SIGKILL');
    await exited;
  };
  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    source: bin,
    kill,
    start,
    async stop() {
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
