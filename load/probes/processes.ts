import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/** Resident memory and CPU time of processes, from /proc (Linux only; null elsewhere). */
export interface ProcessSample {
  rssMB: number | null;
  cpuSeconds: number | null;
}

let ticksPerSecond: number | undefined;
function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

export function sampleProcess(pid: number): ProcessSample {
  let rssMB: number | null = null;
  let cpuSeconds: number | null = null;
  try {
    const kb = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    if (kb) rssMB = round(Number(kb) / 1024);
  } catch {
    /* gone, or not Linux */
  }
  try {
    // The command name may hold spaces and parentheses; the fields after it do not.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
    cpuSeconds = round((Number(fields[11]) + Number(fields[12])) / clockTicks());
  } catch {
    /* gone, or not Linux */
  }
  return { rssMB, cpuSeconds };
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}

/** VmRSS in bytes (kB precision), for growth per connection; null when unreadable. */
export function residentBytes(pid: number): number | null {
  try {
    const kb = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb ? Number(kb) * 1024 : null;
  } catch {
    return null;
  }
}

/**
 * The soft limit on open files of this process (`ulimit -n`) and how many it holds now,
 * from /proc; null off Linux.
 */
export function openFiles(): { limit: number; open: number } | null {
  try {
    const limit = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'))?.[1];
    if (!limit) return null;
    return { limit: limit === 'unlimited' ? Number.POSITIVE_INFINITY : Number(limit), open: readdirSync('/proc/self/fd').length };
  } catch {
    return null;
  }
}
