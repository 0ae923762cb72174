/**
 * Which browser pages may open a WebSocket here (PUSHFLOW_ALLOWED_ORIGINS). Browsers send
 * `Origin` on every WebSocket upgrade and let any page open one to any host, so without
 * this check a page on another site could use a visitor's token (cross-site WebSocket
 * hijacking). Requests without an Origin header do not come from a browser page; the
 * token alone decides for them.
 */
export type OriginPolicy = (origin: string, host: string) => boolean;

const ENTRY = '(\\*|[A-Za-z][A-Za-z0-9+.-]*://[A-Za-z0-9.*\\[\\]:-]+)';
/** The config schema's pattern: comma-separated `*` or `scheme://host[:port]` with `*` wildcards. */
export const ORIGIN_LIST_PATTERN = `^\\s*(${ENTRY}(\\s*,\\s*${ENTRY})*)?\\s*$`;

/**
 * `*` alone allows every origin. Elsewhere `*` stands for one DNS label or a port
 * (letters, digits, `-`), never a dot: `https://*.example.com` does not match
 * `https://a.b.example.com`, nor `http://localhost:*` `http://localhost.evil.com`.
 * Pages served by this node itself (its /demo page: Origin is the host the Host header
 * names) are always allowed, list or no list; an empty list allows only those.
 */
export function createOriginPolicy(list: string): OriginPolicy {
  const patterns = list
    .split(',')
    .map((p) => p.trim().toLowerCase())
    .filter((p) => p !== '');
  if (patterns.includes('*')) return () => true;
  if (patterns.length === 0) return (origin, host) => origin === '' || sameHost(origin, host);
  const compiled = patterns.map(toRegExp);
  return (origin, host) => {
    if (origin === '' || sameHost(origin, host)) return true;
    const o = origin.toLowerCase();
    return compiled.some((re) => re.test(o));
  };
}

function sameHost(origin: string, host: string): boolean {
  const m = /^[a-z][a-z0-9+.-]*:\/\/([^/?#@\s]+)$/i.exec(origin);
  return m !== null && host !== '' && m[1]!.toLowerCase() === host.toLowerCase();
}

function toRegExp(pattern: string): RegExp {
  const escaped = pattern.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[a-z0-9-]*');
  return new RegExp(`^${escaped}$`);
}
