import { spawn } from 'node:child_process';
import { accessSync, chmodSync, constants, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findBinary, freePort } from '../../local-stack/servers.ts';
import { root } from '../../local-stack/stack.ts';

/**
 * The scale profile's nginx (deploy/compose/nginx.conf) run for real, from the machine's
 * nginx, in front of services a test started on loopback ports. Only what ties the conf to
 * Docker is rewritten (rewriteForLoopback); everything else is the conf as it ships.
 */
export const installHint = 'apt-get install nginx-light (.ci/run does), put nginx on PATH, or set PUSHFLOW_NGINX_BIN';

/** PUSHFLOW_NGINX_BIN, else nginx on PATH, else Debian's /usr/sbin/nginx (not on a user's PATH). */
export function findNginx(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const explicit = env.PUSHFLOW_NGINX_BIN;
  if (explicit) return isExecutable(explicit) ? explicit : undefined;
  return findBinary('nginx') ?? (isExecutable('/usr/sbin/nginx') ? '/usr/sbin/nginx' : undefined);
}

function isExecutable(path: string): boolean {
  try {
    if (!statSync(path).isFile()) return false;
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export interface LoopbackTargets {
  /** Compose's `host:port` of each upstream server (e.g. `gateway-1:3000`) to the loopback port serving it. */
  upstreams: Record<string, number>;
  /** Each `listen` of the conf as written (e.g. `3000`, `127.0.0.1:8099`) to the loopback port to listen on instead. */
  listens: Record<string, number>;
  /** Where nginx keeps request bodies and buffered responses (its compiled-in /var/lib/nginx may not exist). */
  tempDir: string;
}

export class ConfRewriteError extends Error {
  readonly code = 'NGINX_CONF_REWRITE';
  constructor(message: string) {
    super(`deploy/compose/nginx.conf: ${message}`);
    this.name = 'ConfRewriteError';
  }
}

/**
 * Rewrites the compose conf to run on loopback. Every upstream server and every listen must
 * have a target, and every target must be used: a conf that gains a server or a port fails
 * here instead of silently proxying somewhere the test does not look.
 */
export function rewriteForLoopback(conf: string, targets: LoopbackTargets): string {
  const used = new Set<string>();
  const lines = conf.split('\n').flatMap((line): string[] => {
    // Docker's embedded DNS; the targets here are addresses, resolved once at start.
    if (/^\s*resolver\s+127\.0\.0\.11\b[^;]*;\s*$/.test(line)) return [];
    const server = /^(\s*)server\s+(\S+)((?:\s+[^\s;]+)*)\s*;\s*$/.exec(line);
    if (server) {
      const [, indent, address, params] = server;
      const port = targets.upstreams[address!];
      if (port === undefined) throw new ConfRewriteError(`upstream server ${address} has no loopback target`);
      used.add(`server ${address}`);
      // `resolve` (re-resolving names at run time) needs nginx 1.27.3+ without a subscription;
      // Debian 12's nginx is 1.22, and a loopback address never changes: the flag goes, the
      // server's other parameters stay.
      const kept = params!.split(/\s+/).filter((p) => p !== '' && p !== 'resolve');
      return [`${indent}server ${[`127.0.0.1:${port}`, ...kept].join(' ')};`];
    }
    const listen = /^(\s*)listen\s+(\S+?)\s*;\s*$/.exec(line);
    if (listen) {
      const [, indent, address] = listen;
      const port = targets.listens[address!];
      if (port === undefined) throw new ConfRewriteError(`listen ${address} has no loopback target`);
      used.add(`listen ${address}`);
      // Loopback only: a test has no business opening ports to the network.
      return [`${indent}listen 127.0.0.1:${port};`];
    }
    if (/^\s*http\s*\{\s*$/.test(line)) {
      // Not in the conf (the image has writable defaults): outside it, nginx's compiled-in
      // temp paths (/var/lib/nginx/...) may be missing or not writable.
      const temp = (name: string) => `  ${name}_temp_path ${join(targets.tempDir, name)};`;
      return [line, ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map(temp)];
    }
    return [line];
  });
  if (lines.some((l) => /^\s*resolver\b/.test(l))) throw new ConfRewriteError("a resolver other than Docker's (127.0.0.11) is left");
  const unused = [
    ...Object.keys(targets.upstreams).map((a) => `server ${a}`),
    ...Object.keys(targets.listens).map((a) => `listen ${a}`),
  ].filter((k) => !used.has(k));
  if (unused.length > 0) throw new ConfRewriteError(`not in the conf: ${unused.join(', ')}`);
  return lines.join('\n');
}

export interface Nginx {
  dir: string;
  /** The rewritten conf nginx runs. */
  conf: string;
  /** What nginx printed and wrote to its error log (the conf turns access logs off), for failure messages. */
  errorLog(): string;
  stop(): Promise<void>;
}

const running = new Set<number>();
process.on('exit', () => {
  // The master passes TERM on to its workers; a KILL would leave them serving.
  for (const pid of running) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      /* gone */
    }
  }
});

/**
 * Starts nginx in the foreground in a temporary prefix, on the conf `makeConf` returns (given
 * that folder for its temp paths), and resolves once `healthPort` answers 200.
 */
export async function startNginx(bin: string, makeConf: (tempDir: string) => string, healthPort: number): Promise<Nginx> {
  const dir = mkdtempSync(join(tmpdir(), 'pushflow-nginx-'));
  // Run as root (CI), the master gives its workers to `nobody`, who must reach the temp
  // paths inside this folder; mkdtemp makes it 0700.
  chmodSync(dir, 0o755);
  const conf = makeConf(dir);
  const confPath = join(dir, 'nginx.conf');
  writeFileSync(confPath, conf);
  const errorLog = join(dir, 'error.log');
  const child = spawn(bin, ['-p', dir, '-c', confPath, '-g', `daemon off; pid ${join(dir, 'nginx.pid')}; error_log ${errorLog} notice;`], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group: a master that will not stop is killed with its workers.
    detached: true,
  });
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  running.add(child.pid!);
  const exited = new Promise<void>((r) =>
    child.once('exit', () => {
      running.delete(child.pid!);
      r();
    }),
  );
  const readLog = () => (existsSync(errorLog) ? readFileSync(errorLog, 'utf8') : '');

  const killGroup = () => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      /* gone */
    }
  };
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      // TERM is nginx's fast shutdown: open WebSockets are cut, not waited for (QUIT would).
      child.kill('SIGTERM');
      const timer = setTimeout(killGroup, 5000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };

  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      const why = `nginx exited (${child.exitCode ?? child.signalCode}):\n${output}\n${readLog()}`;
      await stop();
      throw new Error(why);
    }
    const ok = await fetch(`http://127.0.0.1:${healthPort}/`, { signal: AbortSignal.timeout(1000) }).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ok) break;
    if (Date.now() > deadline) {
      const why = `nginx did not answer on 127.0.0.1:${healthPort} within 10 s:\n${output}\n${readLog()}`;
      await stop();
      throw new Error(why);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { dir, conf, errorLog: () => `${output}${readLog()}`, stop };
}

/** CI sets PUSHFLOW_REQUIRE_NGINX=1: there a missing nginx fails the proxy test instead of skipping it. */
export function nginxSkipReason(env: NodeJS.ProcessEnv = process.env): string | false {
  if (findNginx(env) || (env.PUSHFLOW_REQUIRE_NGINX ?? '') !== '') return false;
  return `nginx not found (${installHint}); set PUSHFLOW_REQUIRE_NGINX=1 to fail instead`;
}

/** The nginx binary, or an error saying how to install one. */
export function requireNginx(env: NodeJS.ProcessEnv = process.env): string {
  const bin = findNginx(env);
  if (!bin)
    throw new Error(`nginx not found${env.PUSHFLOW_NGINX_BIN ? ` at PUSHFLOW_NGINX_BIN=${env.PUSHFLOW_NGINX_BIN}` : ''}: ${installHint}`);
  return bin;
}

export const scaleConfPath = join(root, 'deploy/compose/nginx.conf');

export interface ScaleProxy extends Nginx {
  /** nginx's `:3000` (the gateways), as an http URL. */
  gatewayUrl: string;
  /** nginx's `:8080` (the delivery nodes), as an http URL (ws: for sockets). */
  deliveryUrl: string;
}

/**
 * compose.yaml's `proxy` service: deploy/compose/nginx.conf with gateway-N and delivery-N
 * (in order) pointed at the given loopback ports.
 */
export async function startScaleProxy(ports: { gateways: number[]; deliveries: number[] }): Promise<ScaleProxy> {
  const bin = requireNginx();
  const [api, sockets, health] = [await freePort(), await freePort(), await freePort()];
  const upstreams: Record<string, number> = {};
  ports.gateways.forEach((p, i) => {
    upstreams[`gateway-${i + 1}:3000`] = p;
  });
  ports.deliveries.forEach((p, i) => {
    upstreams[`delivery-${i + 1}:8080`] = p;
  });
  const source = readFileSync(scaleConfPath, 'utf8');
  const nginx = await startNginx(
    bin,
    (tempDir) =>
      rewriteForLoopback(source, {
        upstreams,
        listens: { '3000': api, '8080': sockets, '127.0.0.1:8099': health },
        tempDir,
      }),
    health,
  );
  return { ...nginx, gatewayUrl: `http://127.0.0.1:${api}`, deliveryUrl: `http://127.0.0.1:${sockets}` };
}
