// Which Service ports osm-edge would likely treat with the wrong protocol, as diagnostics with a fix
// (reported by the prerequisites and app-protocol steps); the protocol rules themselves are in protocol.ts.
import type { V1Service, V1ServicePort } from '@kubernetes/client-node';
import type { Diagnostic } from './change.js';
import { protocolAdvice, type ProtocolAdvice } from './protocol.js';

/**
 * Diagnostic codes about Service ports (shared with the prerequisites step), by how osm-edge v1.3.9's
 * Pipy sidecar treats each port (docs/osm-edge.md#pipy-protocols):
 *
 * | Code                         | Level   | Meaning                                                           |
 * |------------------------------|---------|-------------------------------------------------------------------|
 * | OSM_PROTOCOL_GUESS           | warning | no usable appProtocol; osm-edge's guess (name prefix or `http`)   |
 * |                              |         | is likely wrong: `https` names, well-known non-HTTP names or      |
 * |                              |         | ports, MySQL marked `tcp` instead of `tcp-server-first`           |
 * | OSM_APP_PROTOCOL_UNSUPPORTED | warning | appProtocol Pipy does not route: an unknown value (`mysql`: tcp   |
 * |                              |         | with no rules), `https` (no inbound rules), `grpc` in another     |
 * |                              |         | case (`gRPC`: no inbound rules)                                   |
 * | OSM_APP_PROTOCOL_CASE        | info    | `TCP`, `HTTP`: Pipy lower-cases it, so it works, but the          |
 * |                              |         | controller compares case-sensitively and the docs use lower case  |
 */
export const PROTOCOL_CODES = {
  OSM_PROTOCOL_GUESS: 'warning',
  OSM_APP_PROTOCOL_UNSUPPORTED: 'warning',
  OSM_APP_PROTOCOL_CASE: 'info',
} as const;

const ADVICE_CODES: Record<ProtocolAdvice['reason'], keyof typeof PROTOCOL_CODES> = {
  'miscased-app-protocol': 'OSM_APP_PROTOCOL_UNSUPPORTED',
  'unsupported-app-protocol': 'OSM_APP_PROTOCOL_UNSUPPORTED',
  'app-protocol-case': 'OSM_APP_PROTOCOL_CASE',
  'https-name': 'OSM_PROTOCOL_GUESS',
  'well-known-name': 'OSM_PROTOCOL_GUESS',
  'well-known-port': 'OSM_PROTOCOL_GUESS',
  'server-first-as-tcp': 'OSM_PROTOCOL_GUESS',
};

export function portObject(service: string, port: Pick<V1ServicePort, 'port'>): string {
  return `Service/${service}:${port.port}`;
}

export function protocolDiagnostic(service: string, port: V1ServicePort, advice: ProtocolAdvice): Diagnostic {
  const code = ADVICE_CODES[advice.reason];
  // An unnamed port is selected by its number.
  const selector = port.name ? `"${port.name}"` : String(port.port);
  const entry = `{ service: "${service}", port: ${selector}, appProtocol: "${advice.suggested}" }`;
  const hint = `set appProtocol "${advice.suggested}" on it: appProtocols: [${entry}]`;
  const message = `Service ${service}: ${advice.message}`;
  return { code, level: advice.level, message, object: portObject(service, port), hint };
}

/** The wrong-guess diagnostics for every TCP port of these Services (ExternalName Services have no mesh ports). */
export function serviceProtocolDiagnostics(services: V1Service[]): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const svc of services) {
    if (svc.spec?.type === 'ExternalName') continue;
    const name = svc.metadata?.name ?? '';
    for (const port of svc.spec?.ports ?? []) {
      const advice = protocolAdvice(port);
      if (advice) out.push(protocolDiagnostic(name, port, advice));
    }
  }
  return out;
}
