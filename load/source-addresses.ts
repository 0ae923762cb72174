/**
 * Source addresses for many connections to loopback. Linux gives each (source address,
 * port) to one socket, so one address carries about as many connections as the ephemeral
 * port range holds (~28,000 by default). Past `perAddress` connections, or as soon as the
 * kernel answers EADDRNOTAVAIL, the next 127.0.0.x takes over: every 127/8 address
 * reaches the loopback interface.
 */
export interface SourceAddresses {
  /** The address for one more connection; undefined when the target is not on loopback. */
  take(): string | undefined;
  /** The kernel had no port left on `address`: move past it. */
  exhausted(address: string): void;
  /** Connections handed out per address. */
  counts(): Record<string, number>;
}

export function sourceAddresses(targets: string[], perAddress = 25_000): SourceAddresses {
  const loopback = targets.every((url) => /^127\.\d+\.\d+\.\d+$/.test(new URL(url).hostname));
  let host = 1;
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
