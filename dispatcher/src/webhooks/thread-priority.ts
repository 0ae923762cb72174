import { readlinkSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';

/**
 * Lowers the calling thread's CPU priority by `by` nice steps (at most to 19), so that under
 * a saturated CPU the kernel serves the threads of sends first. Linux keeps a nice value per
 * thread, and /proc/thread-self names this one; elsewhere, setting it would renice the
 * whole process, so nothing is changed and an Error says why.
 */
export function lowerThreadPriority(by: number): { tid: number; nice: number } | Error {
  let tid: number;
  try {
    tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
  } catch {
    return new Error('no /proc/thread-self (not Linux): the thread keeps the process priority');
  }
  if (by === 0) return { tid, nice: getPriority(tid) };
  try {
    setPriority(tid, Math.min(19, getPriority(tid) + by));
    return { tid, nice: getPriority(tid) };
  } catch (err) {
    return new Error(`could not lower the thread's priority: ${(err as Error).message}`);
  }
}
