import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import { BlockList, isIP } from 'node:net';
import { networkInterfaces } from 'node:os';

// Where webhooks may go. Unless WEBHOOK_ALLOW_PRIVATE_TARGETS=true (bots inside the cluster or on the same host),
// only globally routable unicast addresses that are not this host's own are reachable, and `localhost` and the
// metadata names are refused. One classification (`isInternalAddress`) serves both checks: the URL's IP literal at
// registration (and again before every attempt) and every address a name resolves to at delivery time (so a DNS
// name cannot point inside later).
//
// IPv4: everything but the IANA special-purpose blocks that are not globally reachable, multicast and 240/4.
const notGlobal4 = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8], // "this network"
  ['10.0.0.0', 8], // RFC 1918
  ['100.64.0.0', 10], // CGNAT
  ['127.0.0.0', 8], // loopback
  ['169.254.0.0', 16], // link-local, cloud metadata
  ['172.16.0.0', 12], // RFC 1918
  ['192.0.0.0', 24], // IETF protocol assignments
  ['192.0.2.0', 24], // TEST-NET-1
  ['192.88.99.0', 24], // 6to4 relay anycast (deprecated)
  ['192.168.0.0', 16], // RFC 1918
  ['198.18.0.0', 15], // benchmarking
  ['198.51.100.0', 24], // TEST-NET-2
  ['203.0.113.0', 24], // TEST-NET-3
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, limited broadcast
] as const) {
  notGlobal4.addSubnet(net, prefix, 'ipv4');
}
// IPv6: only global unicast (2000::/3), less its special-purpose blocks. An address carrying an IPv4 one is judged
// by that IPv4 address (below) before this.
const global6 = new BlockList();
global6.addSubnet('2000::', 3, 'ipv6');
const notGlobal6 = new BlockList();
for (const [net, prefix] of [
  ['2001::', 23], // IETF protocol assignments: Teredo, benchmarking, ORCHID…
  ['2001:db8::', 32], // documentation
  ['3fff::', 20], // documentation
] as const) {
  notGlobal6.addSubnet(net, prefix, 'ipv6');
}
// IPv6 forms that carry an IPv4 address: [prefix, length, byte offset of the IPv4 address].
const embeddings = [
  ['::ffff:0:0', 96, 12], // IPv4-mapped
  ['::ffff:0:0:0', 96, 12], // IPv4-translated (RFC 2765)
  ['64:ff9b::', 96, 12], // NAT64 well-known prefix
  ['2002::', 16, 2], // 6to4
  ['::', 96, 12], // IPv4-compatible (deprecated; includes :: and ::1)
] as const;
const embeddingLists = embeddings.map(([net, prefix, offset]) => {
  const list = new BlockList();
  list.addSubnet(net, prefix, 'ipv6');
  return { list, offset };
});

/** An IPv6 address in the URL standard's canonical form (lower case, hex, `::` compressed), or null. */
function canonical6(address: string): string | null {
  try {
    return new URL(`http://[${address}]/`).hostname.slice(1, -1);
  } catch {
    return null; // a zone id (fe80::1%eth0) or not an address
  }
}

/** The 16 bytes of a canonical IPv6 address. */
function bytes6(address: string): number[] {
  const [head, tail] = address.split('::');
  const h = head ? head.split(':') : [];
  const t = tail === undefined ? [] : tail ? tail.split(':') : [];
  const groups = [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t].map((g) => parseInt(g, 16));
  return groups.flatMap((g) => [g >> 8, g & 0xff]);
}

/** This host's own interface addresses, read now (interfaces come and go), IPv6 in canonical form. */
function ownAddresses(): Set<string> {
  const own = new Set<string>();
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) {
      const address = a.family === 'IPv6' ? canonical6(a.address.replace(/%.*$/, '')) : a.address;
      if (address) own.add(address);
    }
  }
  return own;
}

/**
 * Whether webhooks may not reach `address` while private targets are disallowed: anything but a globally routable
 * unicast address, and this host's own addresses. Not an IP address at all counts as internal.
 */
export function isInternalAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return notGlobal4.check(address, 'ipv4') || ownAddresses().has(address);
  if (family !== 6) return true;
  const v6 = canonical6(address);
  if (!v6) return true;
  const embedding = embeddingLists.find(({ list }) => list.check(v6, 'ipv6'));
  if (embedding)
    return isInternalAddress(
      bytes6(v6)
        .slice(embedding.offset, embedding.offset + 4)
        .join('.'),
    );
  return !global6.check(v6, 'ipv6') || notGlobal6.check(v6, 'ipv6') || ownAddresses().has(v6);
}

/** A URL's host as the name checks compare it: lower case, without IPv6 brackets or trailing dots. */
export function normalizedHost(hostname: string): string {
  return hostname
    .replace(/^\[|\]$/g, '')
    .toLowerCase()
    .replace(/\.+$/, '');
}

/** The problem with a webhook URL, or null when it is acceptable. */
export function targetProblem(raw: string, allowPrivate: boolean): string | null {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return 'must be an absolute http:// or https:// URL';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return 'must use http or https';
  if (url.username || url.password) return 'must not carry credentials (the signature authenticates deliveries)';
  if (url.hash) return 'must not have a fragment';
  if (!url.hostname) return 'must name a host';
  if (allowPrivate) return null;
  const host = normalizedHost(url.hostname);
  if (host === 'localhost' || host.endsWith('.localhost') || host === 'metadata.google.internal') {
    return 'must not target an internal host (set WEBHOOK_ALLOW_PRIVATE_TARGETS=true to allow)';
  }
  if (isIP(host) && isInternalAddress(host)) {
    // One message for every refused address: saying "this host's own" would confirm the service's address.
    return 'must not target an address that is not globally routable (set WEBHOOK_ALLOW_PRIVATE_TARGETS=true to allow)';
  }
  return null;
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/** The code of the error `guardedLookup` refuses a target with. */
export const TARGET_REFUSED = 'EWEBHOOKTARGET';

/**
 * A `lookup` for http.request that refuses names resolving to internal addresses. The error's message is
 * what the caller may see (not the address: that would tell a requester the service's internal DNS);
 * `detail` names it, for the service's own log.
 */
export function guardedLookup(hostname: string, options: LookupOptions, callback: LookupCallback): void {
  dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
    if (err) return callback(err, []);
    const list = addresses;
    const blocked = list.find((a) => isInternalAddress(a.address));
    if (blocked) {
      const e = Object.assign(new Error('the target resolves to an address webhooks may not reach'), {
        code: TARGET_REFUSED,
        detail: `${hostname} resolves to an internal address (${blocked.address})`,
      });
      return callback(e, []);
    }
    if (options.all) return callback(null, list);
    return callback(null, list[0].address, list[0].family);
  });
}
