/**
 * What a unit of work cost each process: its CPU seconds in the window over what the
 * window got done (notifications delivered, GETs answered), in milliseconds, and the
 * servers' sum (the load generator, `harness`, left out). A rate alone hides what it
 * took; on a shared machine CPU per notification is what two systems can be compared on.
 */
export type CpuCost<Unit extends string> = Record<`cpuMsPer${Unit}`, Record<string, number | null>> &
  Record<`serversCpuMsPer${Unit}`, number | null>;

export function cpuCost<Unit extends string>(cpuSeconds: Record<string, number | null>, count: number, unit: Unit): CpuCost<Unit> {
  const per = (seconds: number | null) => (seconds === null || count === 0 ? null : Number(((seconds * 1000) / count).toPrecision(3)));
  const servers = Object.entries(cpuSeconds)
    .filter(([name]) => name !== 'harness')
    .map(([, s]) => s);
  return {
    [`cpuMsPer${unit}`]: Object.fromEntries(Object.entries(cpuSeconds).map(([name, s]) => [name, per(s)])),
    // Null when a server's CPU could not be read (or none was observed): a partial sum would understate.
    [`serversCpuMsPer${unit}`]: servers.length === 0 || servers.includes(null) ? null : per(servers.reduce<number>((a, s) => a + s!, 0)),
  } as CpuCost<Unit>;
}
