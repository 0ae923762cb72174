// Node module hooks that load the k6 scripts of load/k6 the way k6 would see them: k6/* imports
// become the stubs in ./stubs, relative imports must name the file exactly (k6 adds no
// extension), anything else (npm packages, node:*, URLs) is refused, and Node-only globals k6
// does not have are hidden from the script's modules. Registered by load/k6.test.ts.
import { readFile } from 'node:fs/promises';

const SCRIPTS = new URL('../', import.meta.url).href; // load/k6/
const HARNESS = new URL('./', import.meta.url).href;
const STUBS = {
  k6: 'k6.ts',
  'k6/http': 'http.ts',
  'k6/metrics': 'metrics.ts',
  'k6/execution': 'execution.ts',
  'k6/timers': 'timers.ts',
  'k6/websockets': 'websockets.ts',
};
// Globals of Node that k6's JavaScript runtime lacks: in a script they are undefined here, as
// there. (k6 has setTimeout and friends globally, and require() in the init context.)
const NODE_ONLY = ['process', 'Buffer', 'global', 'setImmediate', 'clearImmediate', 'fetch', 'URL', 'URLSearchParams', 'structuredClone'];

function isScript(url) {
  return url?.startsWith(SCRIPTS) === true && !url.startsWith(HARNESS);
}

export async function resolve(specifier, context, nextResolve) {
  if (!isScript(context.parentURL)) return nextResolve(specifier, context);
  if (specifier === 'k6' || specifier.startsWith('k6/')) {
    const stub = STUBS[specifier];
    if (stub === undefined) {
      throw new Error(
        `${context.parentURL} imports '${specifier}', which has no stub in load/k6/harness/stubs: is it a k6 module? If it is, write its stub`,
      );
    }
    // Through the rest of the chain, so the stub gets the same URL, and so the same module
    // instance, as when the test imports it.
    return nextResolve(new URL(`stubs/${stub}`, import.meta.url).href, context);
  }
  if (specifier.startsWith('./') || specifier.startsWith('../')) {
    // The script's query (the test loads each script instance as a separate VU would, with
    // ?vu=N) goes to its own modules too, so each instance has its own module state, as in k6.
    const url = new URL(specifier, context.parentURL);
    url.search = new URL(context.parentURL).search;
    return { url: url.href, format: 'module', shortCircuit: true };
  }
  throw new Error(`${context.parentURL} imports '${specifier}': k6 scripts here may import only k6 modules and relative files`);
}

export async function load(url, context, nextLoad) {
  if (!isScript(url)) return nextLoad(url, context);
  const path = new URL(url);
  path.search = '';
  const source = await readFile(path, 'utf8');
  // On the first line, so line numbers in errors stay the file's.
  const hide = `const ${NODE_ONLY.map((name) => `${name} = undefined`).join(', ')};`;
  return { format: 'module', source: hide + source, shortCircuit: true };
}
