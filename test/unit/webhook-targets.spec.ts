// Which webhook targets are refused while WEBHOOK_ALLOW_PRIVATE_TARGETS is false (outside audit): documentation
// ranges (TEST-NET-1/2/3), this host's own interface addresses, IPv6 forms that carry an internal IPv4 address,
// trailing-dot host names; the same classification for a name's resolved addresses at delivery time; and what a
// delivery shows of a non-2xx answer (its status only, never its body). No network: DNS and the interface list are
// mocked where a test needs them.
import type { LookupAddress } from 'node:dns';
import { afterEach, describe, expect, it, vi } from 'vitest';

// The interface list: the real one unless a test sets `fakeInterfaces`.
let fakeInterfaces: ReturnType<typeof import('node:os').networkInterfaces> | undefined;
vi.mock('node:os', async (importOriginal) => {
  const os = await importOriginal<typeof import('node:os')>();
  return { ...os, networkInterfaces: () => fakeInterfaces ?? os.networkInterfaces() };
});

// Made-up names resolving to the addresses the audit reached; nothing else resolves.
const answers: Record<string, LookupAddress[]> = {
  'testnet.test': [{ address: '192.0.2.2', family: 4 }],
  'nat64.test': [{ address: '64:ff9b::7f00:1', family: 6 }],
  'mixed.test': [
    { address: '93.184.216.34', family: 4 },
    { address: '203.0.113.5', family: 4 },
  ],
  'self.test': [{ address: '93.184.216.40', family: 4 }],
  'public.test': [{ address: '93.184.216.34', family: 4 }],
};
vi.mock('node:dns', async (importOriginal) => {
  const dns = await importOriginal<typeof import('node:dns')>();
  type Callback = (err: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void;
  const lookup = (host: string, _options: object, callback: Callback) => {
    const found = answers[host];
    if (found) return callback(null, found);
    return callback(Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' }), []);
  };
  return { ...dns, lookup };
});

// The unit tier shares modules between files (isolate: false): a file run earlier in this worker may have loaded
// webhook-target.ts with the real node:os and node:dns. Loaded afresh here, it sees the mocks above.
vi.resetModules();
const { guardedLookup, isInternalAddress, TARGET_REFUSED, targetProblem } =
  await import('../../src/webhooks/webhook-target.js');
const { shownDeliveryError } = await import('../../src/webhooks/webhook.service.js');

afterEach(() => {
  fakeInterfaces = undefined;
});

const refusedAddress = /^must not target an address that is not globally routable \(set WEBHOOK_ALLOW_PRIVATE/;

function expectRefused(url: string, message: RegExp = refusedAddress) {
  const problem = targetProblem(url, false);
  expect(problem, url).toMatch(message);
  // The message is the same for every refused address and names none of it.
  expect(problem, url).not.toContain(new URL(url).hostname.replace(/^\[|\]$/g, ''));
  expect(targetProblem(url, true), url).toBeNull();
}

/** One interface with the given IPv4 and IPv6 addresses, as os.networkInterfaces() reports it. */
function oneInterface(v4: string, v6: string) {
  const common = { mac: '02:00:00:00:00:01', internal: false };
  return {
    eth0: [
      { ...common, address: v4, netmask: '255.255.255.0', family: 'IPv4' as const, cidr: `${v4}/24` },
      {
        ...common,
        address: v6,
        netmask: 'ffff:ffff:ffff:ffff::',
        family: 'IPv6' as const,
        cidr: `${v6}/64`,
        scopeid: 0,
      },
    ],
  };
}

describe('webhook targets: what the creation-time check refuses', () => {
  it('refuses the documentation ranges TEST-NET-1, -2 and -3 (192.0.2.2 was the API host itself)', () => {
    for (const url of [
      'http://192.0.2.2:3405/x',
      'http://192.0.2.255/',
      'https://198.51.100.7/hook',
      'http://203.0.113.9:8080/',
      'http://198.18.0.1/', // benchmarking
      'http://[2001:db8::1]/', // IPv6 documentation
      'http://[3fff::1]/',
      'http://[2001::1]/', // Teredo
      'http://[100::1]/', // discard-only
    ]) {
      expectRefused(url);
    }
    for (const url of [
      'http://93.184.216.34/',
      'http://192.0.3.1/',
      'http://203.0.114.1/',
      'http://[2606:4700::1111]/',
    ])
      expect(targetProblem(url, false), url).toBeNull();
  });

  it("refuses this host's own interface addresses, as os.networkInterfaces() lists them now", async () => {
    const { networkInterfaces } = await vi.importActual<typeof import('node:os')>('node:os');
    const own = Object.values(networkInterfaces())
      .flat()
      .filter((a): a is NonNullable<typeof a> => a !== undefined && !a.address.includes('%'));
    expect(own.length).toBeGreaterThan(0);
    for (const a of own) {
      expectRefused(a.family === 'IPv6' ? `http://[${a.address}]:3405/x` : `http://${a.address}:3405/x`);
      expect(isInternalAddress(a.address), a.address).toBe(true);
    }
  });

  it('refuses an own address even when it is globally routable (a host with a public address)', () => {
    expect(targetProblem('http://93.184.216.40:3405/x', false)).toBeNull();
    expect(targetProblem('http://[2606:4700::40]:3405/x', false)).toBeNull();
    fakeInterfaces = oneInterface('93.184.216.40', '2606:4700:0:0::40');
    expectRefused('http://93.184.216.40:3405/x');
    expectRefused('http://[2606:4700::40]:3405/x');
    expectRefused('http://[::ffff:93.184.216.40]:3405/x'); // the same address, IPv4-mapped
    expectRefused('http://[64:ff9b::93.184.216.40]/'); // … behind NAT64
    // Its neighbours are other hosts.
    expect(targetProblem('http://93.184.216.41/', false)).toBeNull();
    expect(targetProblem('http://[2606:4700::41]/', false)).toBeNull();
  });

  it('judges an IPv6 literal carrying an IPv4 address by that address', () => {
    for (const url of [
      'http://[::127.0.0.1]/', // IPv4-compatible
      'http://[64:ff9b::127.0.0.1]/', // NAT64
      'http://[::ffff:0:127.0.0.1]/', // IPv4-translated
      'http://[2002:7f00:1::]/', // 6to4 of 127.0.0.1
      'http://[::ffff:127.0.0.1]/', // IPv4-mapped
      'http://[::ffff:c000:202]/', // 192.0.2.2, mapped
      'http://[64:ff9b::a9fe:a9fe]/', // 169.254.169.254 through NAT64
      'http://[2002:c0a8:101::1]/', // 6to4 of 192.168.1.1
      'http://[::a00:1]/', // 10.0.0.1, IPv4-compatible
    ]) {
      expectRefused(url);
    }
    for (const url of [
      'http://[::ffff:93.184.216.34]/',
      'http://[64:ff9b::93.184.216.34]/',
      'http://[2002:5db8:d822::1]/',
    ])
      expect(targetProblem(url, false), url).toBeNull();
  });

  it('strips trailing dots (and case) before comparing names', () => {
    for (const url of [
      'http://localhost./',
      'http://a.localhost./',
      'http://metadata.google.internal./',
      'http://LOCALHOST./',
      'http://Metadata.Google.Internal../',
    ]) {
      expectRefused(url, /^must not target an internal host/);
    }
    expect(targetProblem('https://hooks.example.com./x', false)).toBeNull();
  });
});

describe('webhook targets: the delivery-time lookup uses the same classification', () => {
  const lookup = (host: string) =>
    new Promise<{ err: (Error & { code?: string; detail?: string }) | null; address: unknown }>((resolve) =>
      guardedLookup(host, {}, (err, address) => resolve({ err, address })),
    );

  it('refuses a name with any resolved address that is not globally routable or is our own', async () => {
    for (const host of ['testnet.test', 'nat64.test', 'mixed.test']) {
      const { err } = await lookup(host);
      expect(err?.code, host).toBe(TARGET_REFUSED);
      expect(err?.message).toBe('the target resolves to an address webhooks may not reach');
    }
    expect((await lookup('self.test')).err).toBeNull();
    fakeInterfaces = oneInterface('93.184.216.40', '2606:4700::40');
    expect((await lookup('self.test')).err?.code).toBe(TARGET_REFUSED);
    expect(await lookup('public.test')).toEqual({ err: null, address: '93.184.216.34' });
  });
});

describe("what a delivery shows of the target's answer", () => {
  it('shows the status alone, also for rows stored with an excerpt of the body', () => {
    expect(shownDeliveryError('HTTP 500')).toBe('HTTP 500');
    expect(shownDeliveryError('HTTP 500: {"secret":"internal"}\nmore')).toBe('HTTP 500');
    expect(shownDeliveryError('HTTP 404: aborted')).toBe('HTTP 404');
    expect(shownDeliveryError('could not connect to the target')).toBe('could not connect to the target');
    expect(shownDeliveryError(null)).toBeNull();
  });
});
