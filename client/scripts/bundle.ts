import { buildSync, type BuildOptions } from 'esbuild';

/**
 * The library as one ES module, from src/index.ts: what dist/index.js holds (scripts/build.ts),
 * what the delivery node serves its demo page (/demo/pushflow-client.js), and what the size
 * test measures minified. One build for all three, so the size measured is the size shipped.
 */
export const entry = new URL('../src/index.ts', import.meta.url).pathname;

export const bundleOptions: BuildOptions = {
  entryPoints: [entry],
  bundle: true,
  format: 'esm',
  // Every browser of the last few years and Node 20; nothing to polyfill.
  target: 'es2022',
  platform: 'neutral',
  write: false,
};

export function bundleClient(opts: { minify?: boolean } = {}): string {
  const result = buildSync({ ...bundleOptions, minify: opts.minify ?? false });
  const [out] = result.outputFiles ?? [];
  if (!out) throw new Error('esbuild wrote no output for the client');
  return out.text;
}
