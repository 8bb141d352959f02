// Strict IPv4 CIDR handling for MeshConfig `outboundIPRange{Exclusion,Inclusion}List` and Egress
// `ipAddresses`. osm-edge's only check is the CRD pattern `((?:\d{1,3}\.){3}\d{1,3})\/(\d{1,2})$`,
// which is unanchored at the start and accepts `999.1.1.1/99` or `garbage1.2.3.4/32`; such a value is
// copied verbatim into osm-init's iptables-restore script and breaks every new pod (docs/osm-edge.md#meshconfig).
// So nothing reaches the cluster from this service without passing `parseCidr`.
//
// Host bits: `10.0.0.1/24` is REFUSED (reason HOST_BITS_SET), not normalised. Go's net.ParseCIDR and
// iptables both accept it and silently mean 10.0.0.0/24, but the writer may equally have meant
// 10.0.0.1/32 (a single address): normalising would guess, and a wrong guess widens or narrows what
// bypasses the sidecar without anyone noticing. The error carries both candidates so the caller can
// pick. `/32` (and `/0` with 0.0.0.0) have no host bits and are always fine.
// Only the dotted-decimal form is accepted: no leading zeros (`010.0.0.1` is octal for some parsers
// and refused by Go since 1.17), no whitespace, no `+`, no IPv6 (the osm-edge CRD pattern is IPv4-only).
// Node's own parser (node:net) has the last word on an address, and answers containment (BlockList); the
// checks before it only name what is wrong, and the mask arithmetic names the two candidates above.
import { BlockList, isIPv4 } from 'node:net';

export type CidrErrorReason =
  'MALFORMED' | 'OCTET_OUT_OF_RANGE' | 'LEADING_ZERO' | 'PREFIX_OUT_OF_RANGE' | 'HOST_BITS_SET';

export interface Ipv4Cidr {
  /** The address as four octets, e.g. [10, 96, 0, 1]. */
  octets: [number, number, number, number];
  prefix: number;
  /** The address as an unsigned 32-bit integer. */
  value: number;
  /** The canonical text form, e.g. `10.96.0.1/32` (equal to the input when it parsed). */
  text: string;
}

export type CidrParseResult =
  { ok: true; cidr: Ipv4Cidr } | { ok: false; reason: CidrErrorReason; message: string; suggestions?: string[] };

const CIDR_SHAPE = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/;
const IP_SHAPE = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

function octetsOf(
  parts: string[],
): { octets: [number, number, number, number] } | { reason: CidrErrorReason; part: string } {
  for (const p of parts) {
    if (p.length > 1 && p.startsWith('0')) return { reason: 'LEADING_ZERO', part: p };
    if (Number(p) > 255) return { reason: 'OCTET_OUT_OF_RANGE', part: p };
  }
  return { octets: parts.map(Number) as [number, number, number, number] };
}

function toValue(o: readonly number[]): number {
  return ((o[0] << 24) | (o[1] << 16) | (o[2] << 8) | o[3]) >>> 0;
}

function fromValue(v: number): string {
  return [v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255].join('.');
}

/** Network mask of a prefix length as an unsigned 32-bit integer. */
export function maskOf(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** Parses a dotted-decimal IPv4 address strictly; returns undefined when it is not one. */
export function parseIpv4(text: string): [number, number, number, number] | undefined {
  if (typeof text !== 'string') return undefined;
  const m = IP_SHAPE.exec(text);
  if (!m) return undefined;
  const r = octetsOf(m.slice(1, 5));
  return 'octets' in r && isIPv4(text) ? r.octets : undefined;
}

export function isIpv4(text: string): boolean {
  return parseIpv4(text) !== undefined;
}

/** Strict IPv4 CIDR parsing; see the file comment for what is refused and why. */
export function parseCidr(text: unknown): CidrParseResult {
  if (typeof text !== 'string')
    return { ok: false, reason: 'MALFORMED', message: `not a string: ${JSON.stringify(text)}` };
  const m = CIDR_SHAPE.exec(text);
  if (!m) {
    return { ok: false, reason: 'MALFORMED', message: `"${text}" is not an IPv4 CIDR of the form a.b.c.d/n` };
  }
  const r = octetsOf(m.slice(1, 5));
  if ('reason' in r) {
    return r.reason === 'LEADING_ZERO'
      ? { ok: false, reason: r.reason, message: `"${text}": octet "${r.part}" has a leading zero` }
      : { ok: false, reason: r.reason, message: `"${text}": octet ${r.part} is greater than 255` };
  }
  const prefixText = m[5];
  if (prefixText.length > 1 && prefixText.startsWith('0')) {
    return {
      ok: false,
      reason: 'LEADING_ZERO',
      message: `"${text}": prefix length "${prefixText}" has a leading zero`,
    };
  }
  const prefix = Number(prefixText);
  if (prefix > 32)
    return {
      ok: false,
      reason: 'PREFIX_OUT_OF_RANGE',
      message: `"${text}": prefix length ${prefix} is greater than 32`,
    };
  const value = toValue(r.octets);
  const network = (value & maskOf(prefix)) >>> 0;
  if (network !== value) {
    const asNetwork = `${fromValue(network)}/${prefix}`;
    const asHost = `${fromValue(value)}/32`;
    return {
      ok: false,
      reason: 'HOST_BITS_SET',
      message: `"${text}" has host bits set: write ${asNetwork} for the network or ${asHost} for the single address`,
      suggestions: [asNetwork, asHost],
    };
  }
  if (!isIPv4(text.slice(0, text.indexOf('/')))) {
    return { ok: false, reason: 'MALFORMED', message: `"${text}" is not an IPv4 CIDR of the form a.b.c.d/n` };
  }
  return { ok: true, cidr: { octets: r.octets, prefix, value, text } };
}

export function isValidCidr(text: unknown): text is string {
  return parseCidr(text).ok;
}

/** `<ip>/32` for a strict IPv4 address; throws on anything else. */
export function hostCidr(ip: string): string {
  if (!isIpv4(ip)) throw new Error(`not an IPv4 address: ${JSON.stringify(ip)}`);
  return `${ip}/32`;
}

/** Whether `cidr` (a valid CIDR) contains the IPv4 address `ip`. */
export function cidrContains(cidr: string, ip: string): boolean {
  const parsed = parseCidr(cidr);
  if (!parsed.ok || !parseIpv4(ip)) return false;
  const range = new BlockList();
  range.addSubnet(fromValue(parsed.cidr.value), parsed.cidr.prefix, 'ipv4');
  return range.check(ip, 'ipv4');
}

export interface InvalidEntry {
  index: number;
  value: unknown;
  reason: CidrErrorReason;
  message: string;
}

/** Checks every entry of a CIDR list; returns the invalid ones (with their index). */
export function invalidEntries(list: readonly unknown[]): InvalidEntry[] {
  const out: InvalidEntry[] = [];
  list.forEach((value, index) => {
    const r = parseCidr(value);
    if (!r.ok) out.push({ index, value, reason: r.reason, message: r.message });
  });
  return out;
}
