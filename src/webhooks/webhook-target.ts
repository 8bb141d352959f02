import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import { BlockList, isIP } from 'node:net';

// Where webhooks may go. By default "obviously internal" targets are refused: loopback,
// unspecified, link-local (incl. cloud metadata 169.254.169.254), private (RFC 1918, CGNAT,
// IPv6 ULA) and multicast addresses, and `localhost` names. The check runs twice: on the URL at
// registration (IP literals and names) and on every address a name resolves to at delivery
// time (so a DNS name cannot point inside later). WEBHOOK_ALLOW_PRIVATE_TARGETS=true lifts it,
// for bots running inside the cluster or on the same host.
const internal = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  internal.addSubnet(net, prefix, 'ipv4');
}
for (const [net, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
] as const) {
  internal.addSubnet(net, prefix, 'ipv6');
}

export function isInternalAddress(address: string): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return internal.check(mapped[1], 'ipv4');
  const family = isIP(address);
  if (family === 0) return false;
  return internal.check(address, family === 4 ? 'ipv4' : 'ipv6');
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
  const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (host === 'localhost' || host.endsWith('.localhost') || host === 'metadata.google.internal') {
    return 'must not target an internal host (set WEBHOOK_ALLOW_PRIVATE_TARGETS=true to allow)';
  }
  if (isIP(host) && isInternalAddress(host)) {
    return (
      'must not target a loopback, link-local or private address (set WEBHOOK_ALLOW_PRIVATE_TARGETS=true to ' + 'allow)'
    );
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
