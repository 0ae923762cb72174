/**
 * The user:password part of a connection URL (redis://:pw@host, mongodb://u:pw@h1,h2/db).
 * A regular expression rather than `new URL`, which rejects MongoDB's multi-host lists.
 */
const USERINFO = /^([a-z][a-z0-9+.-]*:\/\/)([^/?#]*)@/i;

export function urlCredentials(url: string): { username: string; password: string } | undefined {
  const userinfo = USERINFO.exec(url)?.[2];
  if (userinfo === undefined) return undefined;
  const colon = userinfo.indexOf(':');
  const [user, pass] = colon === -1 ? [userinfo, ''] : [userinfo.slice(0, colon), userinfo.slice(colon + 1)];
  return { username: decode(user), password: decode(pass) };
}

/** The URL with everything before its last `@` but the scheme replaced, for messages. */
export function withoutCredentials(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)?.*@/i, (_m, scheme?: string) => `${scheme ?? ''}<redacted>@`);
}

function decode(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    return part;
  }
}
