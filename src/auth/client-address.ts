// Owns "who is at the other end" for per-address limits: the socket's address, or the client named
// in X-Forwarded-For when the hop in front of us is a trusted proxy (TRUST_PROXY).
import type { IncomingMessage } from 'node:http';
import proxyaddr from 'proxy-addr';

export type AddressOf = (req: IncomingMessage) => string;

export function clientAddressResolver(trustProxy: string | undefined): AddressOf {
  const list =
    trustProxy
      ?.split(',')
      .map((s) => s.trim())
      .filter(Boolean) ?? [];
  const trust = list.length > 0 ? proxyaddr.compile(list) : () => false;
  return (req) => {
    try {
      // An IPv4 client on a dual-stack socket shows as ::ffff:a.b.c.d: one client, one key.
      return proxyaddr(req, trust).replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/i, '');
    } catch {
      return req.socket?.remoteAddress ?? 'unknown';
    }
  };
}
