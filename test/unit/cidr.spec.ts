import { describe, expect, it } from 'vitest';
import {
  cidrContains,
  hostCidr,
  invalidEntries,
  isIpv4,
  isValidCidr,
  maskOf,
  parseCidr,
  parseIpv4,
} from '../../src/mesh/cidr.js';

// The CRD pattern osm-edge ships (docs/osm-edge.md#meshconfig), unanchored at the start: what it lets through.
const OSM_PATTERN = /((?:\d{1,3}\.){3}\d{1,3})\/(\d{1,2})$/;

describe('parseCidr (strict IPv4)', () => {
  it.each([
    '10.0.0.1/32',
    '10.96.0.1/32',
    '0.0.0.0/0',
    '10.0.0.0/8',
    '172.16.0.0/12',
    '192.168.1.0/24',
    '255.255.255.255/32',
    '10.0.0.0/31',
    '1.2.3.4/32',
  ])('accepts %s', (v) => {
    const r = parseCidr(v);
    expect(r.ok).toBe(true);
    if (r.ok) expect(r.cidr.text).toBe(v);
  });

  it.each([
    ['999.1.1.1/32', 'OCTET_OUT_OF_RANGE'],
    ['10.0.0.256/32', 'OCTET_OUT_OF_RANGE'],
    ['10.0.0.1/33', 'PREFIX_OUT_OF_RANGE'],
    ['10.0.0.1/99', 'PREFIX_OUT_OF_RANGE'],
    ['garbage1.2.3.4/32', 'MALFORMED'],
    ['x10.0.0.1/32', 'MALFORMED'],
    [' 10.0.0.1/32', 'MALFORMED'],
    ['10.0.0.1/32 ', 'MALFORMED'],
    ['10.0.0.1/32\n', 'MALFORMED'],
    ['1.10.0.0.1/32', 'MALFORMED'],
    ['10.0.0/24', 'MALFORMED'],
    ['10.0.0.1', 'MALFORMED'],
    ['10.0.0.1/', 'MALFORMED'],
    ['10.0.0.1/+8', 'MALFORMED'],
    ['10.0.0.1/-1', 'MALFORMED'],
    ['10.0.0.1/123', 'MALFORMED'],
    ['1000.0.0.1/32', 'MALFORMED'],
    ['fd00::1/128', 'MALFORMED'],
    ['', 'MALFORMED'],
    ['010.0.0.1/32', 'LEADING_ZERO'],
    ['10.00.0.1/32', 'LEADING_ZERO'],
    ['10.0.0.1/08', 'LEADING_ZERO'],
    ['10.0.0.1/24', 'HOST_BITS_SET'],
    ['0.0.0.1/0', 'HOST_BITS_SET'],
    ['192.168.1.128/24', 'HOST_BITS_SET'],
  ])('refuses %j (%s)', (v, reason) => {
    const r = parseCidr(v);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toBe(reason);
  });

  it("refuses values that pass osm-edge's own CRD pattern", () => {
    for (const v of ['999.1.1.1/32', 'garbage1.2.3.4/32', '10.0.0.1/99', '1.10.0.0.1/32']) {
      expect(OSM_PATTERN.test(v)).toBe(true);
      expect(isValidCidr(v)).toBe(false);
    }
  });

  it('explains host bits with both candidate readings', () => {
    const r = parseCidr('10.0.0.1/24');
    expect(r).toMatchObject({ ok: false, reason: 'HOST_BITS_SET', suggestions: ['10.0.0.0/24', '10.0.0.1/32'] });
  });

  it('rejects non-strings', () => {
    expect(isValidCidr(undefined)).toBe(false);
    expect(isValidCidr(42)).toBe(false);
    expect(isValidCidr(null)).toBe(false);
  });
});

describe('addresses and ranges', () => {
  it('parses IPv4 addresses strictly', () => {
    expect(parseIpv4('10.96.0.1')).toEqual([10, 96, 0, 1]);
    expect(isIpv4('10.96.0.01')).toBe(false);
    expect(isIpv4('10.96.0.256')).toBe(false);
    expect(isIpv4('fd00::1')).toBe(false);
    expect(isIpv4('None')).toBe(false);
  });

  it('builds host CIDRs only from valid addresses', () => {
    expect(hostCidr('10.96.0.1')).toBe('10.96.0.1/32');
    expect(() => hostCidr('10.96.0.1/32')).toThrow();
  });

  it('masks and containment', () => {
    expect(maskOf(0)).toBe(0);
    expect(maskOf(32)).toBe(0xffffffff);
    expect(maskOf(12)).toBe(0xfff00000);
    expect(cidrContains('10.96.0.0/12', '10.96.0.1')).toBe(true);
    expect(cidrContains('10.96.0.0/12', '10.112.0.1')).toBe(false);
    expect(cidrContains('0.0.0.0/0', '255.255.255.255')).toBe(true);
    expect(cidrContains('10.96.0.1/32', '10.96.0.1')).toBe(true);
    expect(cidrContains('10.96.0.1/32', '10.96.0.2')).toBe(false);
    expect(cidrContains('128.0.0.0/1', '200.1.1.1')).toBe(true);
    expect(cidrContains('bad', '10.0.0.1')).toBe(false);
  });

  it('lists the invalid entries of a list with their index', () => {
    expect(invalidEntries(['10.0.0.0/8', '999.1.1.1/32', '10.1.1.1/16', 7])).toEqual([
      expect.objectContaining({ index: 1, value: '999.1.1.1/32', reason: 'OCTET_OUT_OF_RANGE' }),
      expect.objectContaining({ index: 2, value: '10.1.1.1/16', reason: 'HOST_BITS_SET' }),
      expect.objectContaining({ index: 3, value: 7, reason: 'MALFORMED' }),
    ]);
  });
});
