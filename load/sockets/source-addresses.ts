/**
 * Source addresses for many connections to loopback. Linux gives each (source address,
 * port) to one socket, so one address carries at most as many connections as the
 * ephemeral port range holds (~28,000 by default). Past `perAddress` connections, or as
 * soon as the kernel answers EADDRNOTAVAIL, the next 127.0.0.x takes over: every 127/8
 * address reaches the loopback interface.
 */

/**
 * Far below the port range on purpose: the kernel looks for a free port for each bind to
 * an address by walking the ports it has bound there, so the cost of a bind grows with
 * the sockets already on that address. Measured here: 2,048 connects from one address
 * took 0.13 s of system time with 2,000 sockets on it and 2.2 s with 8,000, and the
 * 100,000-socket run opened 586/s with 19,700 per address, its holders busy in the kernel.
 * At 4,000 per address 18,000 connects took 0.8 s.
 */
export const socketsPerAddress = 4_000;
export interface SourceAddresses {
  /** The address for one more connection; undefined when the target is not on loopback. */
  take(): string | undefined;
  /** The kernel had no port left on `address`: move past it. */
  exhausted(address: string): void;
  /** Connections handed out per address. */
  counts(): Record<string, number>;
}

/** `firstHost`: the x of the first 127.0.0.x, so processes opening at once start apart. */
export function sourceAddresses(targets: string[], perAddress = socketsPerAddress, firstHost = 1): SourceAddresses {
  const loopback = targets.every((url) => /^127\.\d+\.\d+\.\d+$/.test(new URL(url).hostname));
  let host = firstHost;
  const handed = new Map<string, number>();
  const current = () => `127.0.0.${host}`;
  return {
    take() {
      if (!loopback) return undefined;
      if ((handed.get(current()) ?? 0) >= perAddress) host++;
      if (host > 254) throw new Error('every source address 127.0.0.1-254 is out of ports');
      const address = current();
      handed.set(address, (handed.get(address) ?? 0) + 1);
      return address;
    },
    exhausted(address) {
      if (address === current()) host++;
      handed.set(address, (handed.get(address) ?? 1) - 1);
    },
    counts: () => Object.fromEntries(handed),
  };
}
