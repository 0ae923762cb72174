/**
 * The WebSocket URL of a delivery node with the token in its query: `url` may be the node's
 * base (`ws://host:8080`, `https://host`) or its `/ws` endpoint. The token travels in the
 * query because a browser's WebSocket cannot set an Authorization header; the node never
 * logs it. http(s) is taken for ws(s), so a page can pass its own origin.
 */
export function socketUrl(url: string, token: string): string {
  const u = new URL(url);
  const scheme = ({ 'ws:': 'ws:', 'wss:': 'wss:', 'http:': 'ws:', 'https:': 'wss:' } as Record<string, string>)[u.protocol];
  if (!scheme) throw new TypeError(`not a ws://, wss://, http:// or https:// URL: ${url}`);
  u.protocol = scheme;
  if (!u.pathname.endsWith('/ws')) u.pathname = `${u.pathname.replace(/\/$/, '')}/ws`;
  u.searchParams.set('token', token);
  return u.href;
}
