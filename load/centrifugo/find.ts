import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { findBinary } from '../../local-stack/servers.ts';

/** What to say when there is no centrifugo binary. */
export const installHint =
  'run scripts/install-centrifugo.sh (builds Centrifugo v6 with Go from the Go module proxy into ~/.cache/pushflow/bin), put centrifugo on PATH, or set PUSHFLOW_CENTRIFUGO_BIN';

/**
 * The centrifugo binary the peer comparison runs: on PATH, else PUSHFLOW_CENTRIFUGO_BIN,
 * else the one scripts/install-centrifugo.sh builds into the cache; undefined when none is.
 */
export function findCentrifugo(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const onPath = findBinary('centrifugo');
  if (onPath) return onPath;
  const explicit = env.PUSHFLOW_CENTRIFUGO_BIN;
  if (explicit && existsSync(explicit)) return explicit;
  const cache = env.PUSHFLOW_CACHE_DIR ?? join(env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'pushflow');
  const cached = join(cache, 'bin', 'centrifugo');
  return existsSync(cached) ? cached : undefined;
}
