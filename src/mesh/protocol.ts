// osm-edge v1.3.9's application protocol selection and how its default sidecar, Pipy, treats the result
// (docs/osm-edge.md#app-protocol), as pure functions.
//
// The controller (`pkg/k8s/client.go`, ServiceToMeshServices) stores per Service port: 1. `appProtocol`
// exactly as written, 2. the first matching name prefix (`tcp-server-first-`, `http-`, `tcp-`, `grpc-`),
// 3. `http`. Pipy's config generator (`pkg/sidecar/providers/pipy/repo/util.go`) lower-cases that value,
// but its inbound rules test the value as written for `grpc`; Pipy's data plane (`codebase/modules/
// inbound-main.js`, `outbound-main.js`) parses `http` and `grpc` as HTTP and anything else as TCP.

/** `constants.SupportedProtocolsInMesh`, in the order the name prefixes are checked. */
export const MESH_PROTOCOLS = ['tcp-server-first', 'http', 'tcp', 'grpc'] as const;
export type MeshProtocol = (typeof MESH_PROTOCOLS)[number];

export type ProtocolSource = 'appProtocol' | 'name-prefix' | 'default';

export interface ServicePortLike {
  name?: string | null;
  appProtocol?: string | null;
  port?: number | null;
  /** TCP (default), UDP or SCTP. */
  protocol?: string | null;
  targetPort?: number | string | null;
}

export interface EffectiveProtocol {
  /** The protocol osm-edge stores for the port, exactly as it would (it may be a value it does not understand). */
  protocol: string;
  source: ProtocolSource;
}

export function isMeshProtocol(value: string | null | undefined): value is MeshProtocol {
  return (MESH_PROTOCOLS as readonly string[]).includes(value as string);
}

/** The protocol osm-edge picks for a Service port, with the rule that picked it. */
export function effectiveProtocol(port: Pick<ServicePortLike, 'name' | 'appProtocol'>): EffectiveProtocol {
  // pointer.StringDeref: any non-nil appProtocol wins, even one osm-edge does not understand.
  if (port.appProtocol !== undefined && port.appProtocol !== null)
    return { protocol: port.appProtocol, source: 'appProtocol' };
  const name = port.name ?? '';
  for (const p of MESH_PROTOCOLS) {
    if (name.startsWith(`${p}-`)) return { protocol: p, source: 'name-prefix' };
  }
  return { protocol: 'http', source: 'default' };
}

/** How osm-edge v1.3.9's Pipy sidecar handles a stored protocol (docs/osm-edge.md#pipy-protocols). */
export interface PipyTreatment {
  /** The value in Pipy's config: the stored protocol lower-cased (`util.go`). */
  configured: string;
  /** How the data plane parses the traffic: HTTP, gRPC (HTTP/2), or TCP for anything else. */
  dataPlane: 'http' | 'grpc' | 'tcp';
  /** The route rules the config generator builds for traffic into the port (server side). */
  inbound: 'http' | 'tcp' | 'none';
  /** The route rules it builds for calls to the port from other pods (client side). */
  outbound: 'http' | 'tcp' | 'none';
}

export function pipyTreatment(protocol: string): PipyTreatment {
  const lower = protocol.toLowerCase();
  const tcp = lower === 'tcp' || lower === 'tcp-server-first';
  return {
    configured: lower,
    dataPlane: lower === 'http' ? 'http' : lower === 'grpc' ? 'grpc' : 'tcp',
    // Inbound tests `grpc` on the value as written (util.go, generatePipyInboundTrafficPolicy).
    inbound: lower === 'http' || protocol === 'grpc' ? 'http' : tcp ? 'tcp' : 'none',
    // Outbound passes `https` through as TCP (util.go, generatePipyOutboundTrafficRoutePolicy).
    outbound: lower === 'http' || lower === 'grpc' ? 'http' : tcp || lower === 'https' ? 'tcp' : 'none',
  };
}

export type ProtocolAdviceReason =
  /** appProtocol is `grpc` in another case (`gRPC`): its inbound side gets no route rules. */
  | 'miscased-app-protocol'
  /** appProtocol is `tcp`/`http`/`tcp-server-first` in another case: Pipy copes, the docs use lower case. */
  | 'app-protocol-case'
  /** appProtocol is a value osm-edge does not understand (`https`, `kubernetes.io/h2c`, `mysql`, ...). */
  | 'unsupported-app-protocol'
  /** no appProtocol; the name starts with `https` (not a prefix osm-edge knows): falls back to http. */
  | 'https-name'
  /** no appProtocol and no known prefix; the name says a non-HTTP protocol (`mysql`, `redis`, `tcp`, `grpc`, ...). */
  | 'well-known-name'
  /** no appProtocol and no known prefix; the port number is a well-known non-HTTP port (3306, 6379, ...). */
  | 'well-known-port'
  /** the port is routed as `tcp`, but the protocol is server-first (MySQL): the docs ask for `tcp-server-first`. */
  | 'server-first-as-tcp';

export interface ProtocolAdvice {
  reason: ProtocolAdviceReason;
  /** `info` when the port works as it is (only its spelling differs from the docs). */
  level: 'warning' | 'info';
  /** What osm-edge would use (as stored). */
  effective: string;
  source: ProtocolSource;
  /** The appProtocol to set. */
  suggested: MeshProtocol;
  message: string;
}

interface KnownProtocol {
  label: string;
  suggested: MeshProtocol;
}

// The docs (app_protocol_selection.md) name tcp-server-first for "mySQL, PostgreSQL"; the other
// well-known protocols below are plain TCP. HTTPS/TLS end to end cannot be parsed as HTTP by the
// sidecar, so it has to be tcp.
const MYSQL: KnownProtocol = { label: 'MySQL', suggested: 'tcp-server-first' };
const POSTGRES: KnownProtocol = { label: 'PostgreSQL', suggested: 'tcp-server-first' };
const REDIS: KnownProtocol = { label: 'Redis', suggested: 'tcp' };
const MONGO: KnownProtocol = { label: 'MongoDB', suggested: 'tcp' };
const KAFKA: KnownProtocol = { label: 'Kafka', suggested: 'tcp' };
const AMQP: KnownProtocol = { label: 'AMQP', suggested: 'tcp' };
const ZOOKEEPER: KnownProtocol = { label: 'ZooKeeper', suggested: 'tcp' };
const MEMCACHED: KnownProtocol = { label: 'memcached', suggested: 'tcp' };
const TLS: KnownProtocol = { label: 'TLS/HTTPS', suggested: 'tcp' };
const TCP: KnownProtocol = { label: 'raw TCP', suggested: 'tcp' };
const GRPC: KnownProtocol = { label: 'gRPC', suggested: 'grpc' };

/** Well-known non-HTTP port numbers. */
export const WELL_KNOWN_PORTS: Readonly<Record<number, KnownProtocol>> = {
  3306: MYSQL,
  5432: POSTGRES,
  6379: REDIS,
  27017: MONGO,
  9092: KAFKA,
  5672: AMQP,
  2181: ZOOKEEPER,
  11211: MEMCACHED,
};

/** Port names (or their first `-`/`_` separated word) that say a non-HTTP protocol. */
const WELL_KNOWN_NAMES: Readonly<Record<string, KnownProtocol>> = {
  mysql: MYSQL,
  mariadb: MYSQL,
  postgres: POSTGRES,
  postgresql: POSTGRES,
  redis: REDIS,
  mongo: MONGO,
  mongodb: MONGO,
  kafka: KAFKA,
  amqp: AMQP,
  rabbitmq: AMQP,
  zookeeper: ZOOKEEPER,
  zk: ZOOKEEPER,
  memcached: MEMCACHED,
  memcache: MEMCACHED,
  tcp: TCP,
  grpc: GRPC,
  https: TLS,
  tls: TLS,
};

/** appProtocol values osm-edge does not understand, with what they mean in its terms. */
const APP_PROTOCOL_MEANINGS: Readonly<Record<string, KnownProtocol>> = {
  https: TLS,
  tls: TLS,
  'kubernetes.io/h2c': { label: 'HTTP/2 cleartext', suggested: 'grpc' },
  h2c: { label: 'HTTP/2 cleartext', suggested: 'grpc' },
  http2: { label: 'HTTP/2', suggested: 'grpc' },
  'kubernetes.io/ws': { label: 'WebSocket', suggested: 'http' },
  ws: { label: 'WebSocket', suggested: 'http' },
  'kubernetes.io/wss': { label: 'WebSocket over TLS', suggested: 'tcp' },
  wss: { label: 'WebSocket over TLS', suggested: 'tcp' },
  'tcp-server-first': { label: 'server-first TCP', suggested: 'tcp-server-first' },
  ...WELL_KNOWN_NAMES,
};

function firstWord(name: string): string {
  return name.toLowerCase().split(/[-_.]/)[0] ?? '';
}

// Words that mark an HTTP side port of a non-HTTP server (`redis-metrics`, `kafka-ui`): not flagged.
const HTTP_WORDS = new Set([
  'http',
  'metrics',
  'web',
  'ui',
  'admin',
  'exporter',
  'prometheus',
  'health',
  'api',
  'rest',
  'console',
]);

function knownByName(name: string): KnownProtocol | undefined {
  const lower = name.toLowerCase();
  if (lower.split(/[-_.]/).some((w) => HTTP_WORDS.has(w))) return undefined;
  return WELL_KNOWN_NAMES[lower] ?? WELL_KNOWN_NAMES[firstWord(lower)];
}

function knownByPort(port: ServicePortLike): { known: KnownProtocol; number: number } | undefined {
  for (const n of [port.port, typeof port.targetPort === 'number' ? port.targetPort : undefined]) {
    if (typeof n === 'number' && WELL_KNOWN_PORTS[n]) return { known: WELL_KNOWN_PORTS[n], number: n };
  }
  return undefined;
}

function isServerFirstMysql(port: ServicePortLike): boolean {
  const byName = port.name ? knownByName(port.name.replace(/^tcp-/, '')) : undefined;
  return byName === MYSQL || knownByPort(port)?.known === MYSQL;
}

/**
 * Flags a Service port whose protocol osm-edge would likely get wrong, with the appProtocol to
 * set. Returns undefined when the port looks right, or when it is not TCP (osm-edge intercepts
 * TCP only, so UDP/SCTP ports never reach the sidecar). An explicit, supported appProtocol is
 * respected (even `http` on 3306): it is a decision, not a guess. A `tcp-` name prefix is
 * respected too, except for MySQL, which the docs ask to mark `tcp-server-first`.
 */
export function protocolAdvice(port: ServicePortLike): ProtocolAdvice | undefined {
  if (port.protocol && port.protocol !== 'TCP') return undefined;
  const eff = effectiveProtocol(port);
  const name = port.name ?? '';
  const what = name ? `port "${name}"` : `port ${port.port ?? '?'}`;
  const advice = (reason: ProtocolAdviceReason, suggested: MeshProtocol, message: string): ProtocolAdvice => ({
    reason,
    level: reason === 'app-protocol-case' ? 'info' : 'warning',
    effective: eff.protocol,
    source: eff.source,
    suggested,
    message,
  });

  if (eff.source === 'appProtocol') {
    const value = eff.protocol;
    if (isMeshProtocol(value)) {
      if (value === 'tcp' && isServerFirstMysql(port)) {
        return advice(
          'server-first-as-tcp',
          'tcp-server-first',
          `${what} is MySQL (the server speaks first) with appProtocol "tcp"; osm-edge's docs ask for ` +
            `"tcp-server-first"`,
        );
      }
      return undefined;
    }
    const lower = value.toLowerCase();
    const pipy = pipyTreatment(value);
    if (isMeshProtocol(lower)) {
      if (pipy.inbound === 'none') {
        return advice(
          'miscased-app-protocol',
          lower,
          `${what} has appProtocol "${value}": osm-edge's Pipy sidecar lower-cases it for calls to the port ` +
            `(gRPC), but its inbound rules test the value as written, so the server side gets no route rules ` +
            `and calls are not accepted`,
        );
      }
      return advice(
        'app-protocol-case',
        lower,
        `${what} has appProtocol "${value}": osm-edge's Pipy sidecar lower-cases it and handles it as ${lower}, ` +
          `but the controller compares it case-sensitively and the docs write it in lower case`,
      );
    }
    const known = APP_PROTOCOL_MEANINGS[lower] ?? APP_PROTOCOL_MEANINGS[firstWord(lower)];
    const suggested = known?.suggested ?? (lower.includes('http') ? 'http' : 'tcp');
    const routing =
      pipy.outbound === 'tcp'
        ? 'Pipy passes calls to it through as tcp but builds no inbound rules, so the server side does not accept them'
        : "Pipy's data plane handles it as tcp (anything but http and grpc), but no route rules are built for it " +
          'in either direction, so its traffic is not routed';
    return advice(
      'unsupported-app-protocol',
      suggested,
      `${what} has appProtocol "${value}"${known ? ` (${known.label})` : ''}, which osm-edge does not know ` +
        `(it knows ${MESH_PROTOCOLS.join(', ')}): ${routing}`,
    );
  }

  if (eff.source === 'name-prefix') {
    if (name === 'tcp-server-first') {
      // The prefix needs a trailing dash: "tcp-server-first" itself matches "tcp-".
      return advice(
        'well-known-name',
        'tcp-server-first',
        `${what} is named "tcp-server-first", but the prefix is "tcp-server-first-" (with a dash), so osm-edge ` +
          `matches "tcp-" and uses tcp`,
      );
    }
    if (eff.protocol === 'tcp' && isServerFirstMysql(port)) {
      return advice(
        'server-first-as-tcp',
        'tcp-server-first',
        `${what} is MySQL (the server speaks first) but its "tcp-" name prefix selects "tcp"; osm-edge's docs ask ` +
          `for "tcp-server-first"`,
      );
    }
    return undefined;
  }

  // Default: no appProtocol, no known prefix → http.
  if (/^https([-_.]|$)/i.test(name)) {
    return advice(
      'https-name',
      'tcp',
      `${what}: "https" is not a name prefix osm-edge knows, so it falls back to http; TLS end to end cannot be ` +
        `routed as HTTP`,
    );
  }
  const byName = name ? knownByName(name) : undefined;
  if (byName) {
    const why =
      name.toLowerCase() === 'tcp' || name.toLowerCase() === 'grpc'
        ? `osm-edge only recognizes the prefix "${name.toLowerCase()}-" (with a dash)`
        : `the name says ${byName.label}`;
    return advice(
      'well-known-name',
      byName.suggested,
      `${what} has no appProtocol and no known name prefix, so osm-edge routes it as http, but ${why}`,
    );
  }
  const byPort = knownByPort(port);
  if (byPort) {
    return advice(
      'well-known-port',
      byPort.known.suggested,
      `${what} has no appProtocol and no known name prefix, so osm-edge routes it as http, but ${byPort.number} is ` +
        `the ${byPort.known.label} port`,
    );
  }
  return undefined;
}
