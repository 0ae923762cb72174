import { readFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import { transformSync } from 'esbuild';

/**
 * The pages the services serve (the delivery node's demo client, the gateway's dashboard):
 * a few files read once at start-up and answered from memory, each with its content type and
 * headers that let a page load only from its own origin. No framework and no build step: a
 * page's script is TypeScript (tsconfig.pages.json checks it), stripped of its types here
 * when the service starts and served as JavaScript.
 *
 * Only the two services that serve pages import this, as `@pushflow/shared/static-pages`: it
 * is left out of shared's index so that the dispatcher and the CLI never load esbuild, and
 * esbuild is a dependency of the gateway and the delivery node (an optional peer of shared).
 */
export interface StaticAsset {
  /** The URL path it answers, e.g. `/demo/client.js`. */
  path: string;
  body: Buffer;
  headers: Record<string, string>;
}

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  // Served as what transpile() makes of it.
  '.ts': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

/**
 * Scripts, styles, images and connections (fetch, WebSocket) from the page's own origin only:
 * no inline script, so text that reaches the page from a notification can never run, and
 * no other site's script either. Chromium counts ws:// on the same host as 'self'.
 */
export const PAGE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

export function pageHeaders(file: string): Record<string, string> {
  const contentType = CONTENT_TYPES[extname(file)];
  if (!contentType) throw new Error(`no content type for ${file}`);
  return {
    'content-type': contentType,
    'content-security-policy': PAGE_CSP,
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    // Small and read at start-up: a new version is one reload away, never a stale cache.
    'cache-control': 'no-cache',
  };
}

/**
 * A page script's TypeScript as the JavaScript module a browser runs: types removed, the
 * code otherwise as written. No `format` option: esbuild then leaves imports and exports
 * where they are (`export function connectClient`, not an `export {}` list at the end). It
 * drops comments, so the commented source is the .ts file. A type error is tsc's to find
 * (`make typecheck`); a syntax error here stops the service at start.
 */
export function transpile(source: string, file: string): string {
  return transformSync(source, { loader: 'ts', target: 'es2022', sourcefile: file }).code;
}

/**
 * Reads `files` (URL path → file name in `dir`) now, so a missing file stops the service at
 * start; `.ts` files are transpiled now too, except at a URL path that itself ends in `.ts`:
 * there the commented source is served as text, for people to read.
 */
export function loadStaticAssets(dir: string, files: Record<string, string>): StaticAsset[] {
  return Object.entries(files).map(([path, file]) => {
    const raw = readFileSync(join(dir, file));
    if (extname(file) === '.ts' && path.endsWith('.ts')) {
      return { path, body: raw, headers: { ...pageHeaders(file), 'content-type': 'text/plain; charset=utf-8' } };
    }
    const body = extname(file) === '.ts' ? Buffer.from(transpile(raw.toString('utf8'), file)) : raw;
    return { path, body, headers: pageHeaders(file) };
  });
}
