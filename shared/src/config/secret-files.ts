import { readFileSync } from 'node:fs';
import { ConfigError } from './config-error.ts';

/**
 * `<VAR>_FILE`: a variable's value read from a file, the way Docker Compose secrets and
 * Kubernetes secret volumes hand secrets to a process (the value never sits in the
 * environment, where `docker inspect` and /proc/<pid>/environ show it).
 */
export const FILE_SUFFIX = '_FILE';

export interface ResolvedEnv {
  env: NodeJS.ProcessEnv;
  /** The variables whose value came from a file: treat them as secrets whatever their name. */
  fromFiles: Set<string>;
}

/** Fills each of `names` that is unset from `<name>_FILE`, when that is set. */
export function readSecretFiles(
  names: readonly string[],
  env: NodeJS.ProcessEnv,
  read: (path: string) => string = (path) => readFileSync(path, 'utf8'),
): ResolvedEnv {
  const out: NodeJS.ProcessEnv = { ...env };
  const fromFiles = new Set<string>();
  for (const name of names) {
    const fileVar = name + FILE_SUFFIX;
    const path = env[fileVar];
    if (path === undefined || path === '') continue;
    if (env[name] !== undefined && env[name] !== '') {
      throw new ConfigError(name, `both ${name} and ${fileVar} are set; set only one`);
    }
    let text: string;
    try {
      text = read(path);
    } catch (err) {
      const reason = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      throw new ConfigError(fileVar, `cannot read ${JSON.stringify(path)} (${reason})`);
    }
    // Files written by editors and `echo` end with a newline that is not part of the secret.
    const value = text.replace(/\r?\n$/, '');
    if (value === '') throw new ConfigError(fileVar, `${JSON.stringify(path)} is empty`);
    out[name] = value;
    fromFiles.add(name);
  }
  return { env: out, fromFiles };
}
