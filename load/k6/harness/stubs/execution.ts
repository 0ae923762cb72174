// Stub of k6/execution: what the test says the current scenario and VU are (asVu in state.ts).
import { k6, strict } from '../state.ts';

function current() {
  if (k6.phase === 'init' || k6.execution === null)
    throw new Error('getting scenario information outside of the VU context is not supported');
  return k6.execution;
}

const test = strict('exec.test', {
  abort(reason?: string): never {
    k6.aborted = reason ?? '';
    throw new Error(`test aborted: ${reason ?? ''}`);
  },
  fail(reason?: string): void {
    k6.aborted = reason ?? '';
  },
  get options(): unknown {
    throw new Error('the stubs do not model exec.test.options');
  },
});

const exec = strict('k6/execution', {
  get scenario() {
    return strict('exec.scenario', { ...current().scenario });
  },
  get vu() {
    return strict('exec.vu', { ...current().vu, tags: {}, metrics: { tags: {}, metadata: {} } });
  },
  get instance() {
    current();
    return strict('exec.instance', {
      iterationsInterrupted: 0,
      iterationsCompleted: 0,
      vusActive: 1,
      vusInitialized: 1,
      currentTestRunDuration: 0,
    });
  },
  test,
});

export default exec;
