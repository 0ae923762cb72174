import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { BlockList, isIP, type LookupFunction } from 'node:net';

/**
 * The SSRF guard: a webhook URL is the API caller's choice, and the dispatcher sits inside
 * the deployment's network, next to Redis, MongoDB and a cloud's metadata service. Unless
 * PUSHFLOW_WEBHOOK_ALLOW_PRIVATE is set, no connection goes to an address that is not
 * public. The check is made on the addresses DNS gave, in the lookup the socket itself
 * uses (lookupPublic), so a name that resolves differently at send time (DNS rebinding)
 * is caught there too; an IP literal, which sockets never look up, is checked first.
 */
const forbidden = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8], // "this network"
  ['10.0.0.0', 8],
  ['100.64.0.0', 10], // carrier-grade NAT; holds Alibaba's metadata address 100.100.100.200
  ['127.0.0.0', 8],
  ['169.254.0.0', 16], // link-local; holds the metadata address 169.254.169.254
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, and broadcast
] as const) {
  forbidden.addSubnet(net, prefix, 'ipv4');
}
for (const [net, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7], // unique local; holds AWS's IPv6 metadata address fd00:ec2::254
  ['fe80::', 10],
  ['ff00::', 8],
  ['64:ff9b::', 96], // NAT64: could reach any IPv4 address behind the gateway
] as const) {
  forbidden.addSubnet(net, prefix, 'ipv6');
}

/** Whether an IP address may be connected to with the guard on. */
export function isPublicAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 0) return false;
  if (family === 6) {
    // ::ffff:10.0.0.1 is 10.0.0.1 to the kernel.
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
    if (mapped) return isPublicAddress(mapped);
    return !forbidden.check(address, 'ipv6');
  }
  return !forbidden.check(address, 'ipv4');
}

export class RefusedAddressError extends Error {
  readonly code = 'PUSHFLOW_WEBHOOK_ADDRESS_REFUSED';
  constructor(message: string) {
    super(message);
    this.name = 'RefusedAddressError';
  }
}

/**
 * A socket's `lookup` that resolves as usual, then keeps only public addresses; with none
 * left, the connection fails with RefusedAddressError before any byte is sent.
 */
export const lookupPublic: LookupFunction = (hostname, options, callback) => {
  dnsLookup(hostname, { ...options, all: true }, (err, addresses: LookupAddress[]) => {
    if (err) return callback(err, '', 0);
    const allowed = addresses.filter((a) => isPublicAddress(a.address));
    if (allowed.length === 0) {
      return callback(new RefusedAddressError(`${hostname} resolves to no public address`) as NodeJS.ErrnoException, '', 0);
    }
    if (options.all) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, allowed);
    callback(null, allowed[0]!.address, allowed[0]!.family);
  });
};

const LOOKUP_TIMEOUT_MS = 2000;

/** Why a URL may not be a webhook endpoint, or undefined when it may. Resolves the name. */
export async function refusalOf(url: string, allowPrivate: boolean): Promise<string | undefined> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'is not a URL';
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return 'must be an http or https URL';
  if (allowPrivate) return undefined;
  const host = hostOf(parsed);
  if (isIP(host)) return isPublicAddress(host) ? undefined : `${host} is not a public address`;
  // Bounded: an admin request must be answered within the gateway's reply timeout.
  const addresses = await new Promise<LookupAddress[] | Error>((resolve) => {
    const timer = setTimeout(() => resolve(new Error(`no answer within ${LOOKUP_TIMEOUT_MS} ms`)), LOOKUP_TIMEOUT_MS);
    dnsLookup(host, { all: true }, (err, found) => {
      clearTimeout(timer);
      resolve(err ?? found);
    });
  });
  if (addresses instanceof Error) return `${host} does not resolve (${(addresses as NodeJS.ErrnoException).code ?? addresses.message})`;
  const refused = addresses.find((a) => !isPublicAddress(a.address));
  // Refused if any answer is private: a name that sometimes points inside is no endpoint.
  return refused ? `${host} resolves to ${refused.address}, which is not a public address` : undefined;
}

/** The host as a socket would get it: IPv6 literals without their brackets. */
export function hostOf(url: URL): string {
  return url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
}
