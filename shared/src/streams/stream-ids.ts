/**
 * Redis stream ids are `<ms>-<seq>`; they order by the two numbers, not as strings
 * ("9-0" is older than "10-0").
 */
export function compareIds(a: string, b: string): number {
  const [am, as] = parseId(a);
  const [bm, bs] = parseId(b);
  if (am !== bm) return am < bm ? -1 : 1;
  return as === bs ? 0 : as < bs ? -1 : 1;
}

/** When the entry was appended: the ms part of its id, by the Redis server's clock. */
export function entryTime(id: string): number {
  return Number(id.slice(0, id.indexOf('-')));
}

export function minId(ids: string[]): string | undefined {
  return ids.reduce<string | undefined>((min, id) => (min === undefined || compareIds(id, min) < 0 ? id : min), undefined);
}

function parseId(id: string): [bigint, bigint] {
  const [ms = '0', seq = '0'] = id.split('-');
  return [BigInt(ms), BigInt(seq)];
}
