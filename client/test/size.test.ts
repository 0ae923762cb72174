import assert from 'node:assert/strict';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { bundleClient } from '../scripts/bundle.ts';

/** The budget: under 4 KB minified and gzipped, measured on the build that ships. */
const BUDGET = 4096;

test(`the library is under ${BUDGET} bytes minified and gzipped, with no import left in it`, () => {
  const code = bundleClient({ minify: true });
  const gzipped = gzipSync(code, { level: 9 }).length;
  console.log(`@pushflow/client: ${code.length} bytes minified, ${gzipped} gzipped`);
  assert.ok(gzipped < BUDGET, `${gzipped} bytes gzipped; the budget is ${BUDGET}`);
  // Zero runtime dependencies: one module with nothing to import.
  assert.doesNotMatch(code, /\bimport\s*[{("'*]|\brequire\(/);
  assert.match(code, /export\s*{/);
});
