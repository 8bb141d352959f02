import { describe, expect, it } from 'vitest';
import { effectiveProtocol, isMeshProtocol, pipyTreatment, protocolAdvice } from '../../src/mesh/protocol.js';

describe('effectiveProtocol (osm-edge ServiceToMeshServices)', () => {
  it('uses appProtocol exactly as written, before any name prefix', () => {
    expect(effectiveProtocol({ name: 'http-web', appProtocol: 'tcp' })).toEqual({
      protocol: 'tcp',
      source: 'appProtocol',
    });
    expect(effectiveProtocol({ name: 'tcp-db', appProtocol: 'TCP' })).toEqual({
      protocol: 'TCP',
      source: 'appProtocol',
    });
    expect(effectiveProtocol({ appProtocol: 'kubernetes.io/h2c' })).toEqual({
      protocol: 'kubernetes.io/h2c',
      source: 'appProtocol',
    });
  });

  it('checks the name prefixes in osm-edge order: tcp-server-first-, http-, tcp-, grpc-', () => {
    expect(effectiveProtocol({ name: 'tcp-server-first-mysql' })).toEqual({
      protocol: 'tcp-server-first',
      source: 'name-prefix',
    });
    expect(effectiveProtocol({ name: 'http-web' })).toEqual({ protocol: 'http', source: 'name-prefix' });
    expect(effectiveProtocol({ name: 'tcp-db' })).toEqual({ protocol: 'tcp', source: 'name-prefix' });
    expect(effectiveProtocol({ name: 'grpc-api' })).toEqual({ protocol: 'grpc', source: 'name-prefix' });
    // "tcp-server-first" without the trailing dash matches "tcp-" first.
    expect(effectiveProtocol({ name: 'tcp-server-first' })).toEqual({ protocol: 'tcp', source: 'name-prefix' });
  });

  it('defaults to http (no appProtocol, no known prefix, prefixes need the dash and are case-sensitive)', () => {
    expect(effectiveProtocol({})).toEqual({ protocol: 'http', source: 'default' });
    expect(effectiveProtocol({ name: 'tcp' })).toEqual({ protocol: 'http', source: 'default' });
    expect(effectiveProtocol({ name: 'https-web' })).toEqual({ protocol: 'http', source: 'default' });
    expect(effectiveProtocol({ name: 'TCP-db' })).toEqual({ protocol: 'http', source: 'default' });
    expect(effectiveProtocol({ name: 'grpc', appProtocol: null })).toEqual({ protocol: 'http', source: 'default' });
  });

  it('knows the four protocols, in lower case', () => {
    expect(isMeshProtocol('tcp-server-first')).toBe(true);
    expect(isMeshProtocol('TCP')).toBe(false);
  });
});

describe('pipyTreatment (osm-edge v1.3.9 Pipy: util.go, inbound-main.js, outbound-main.js)', () => {
  const t = (configured: string, dataPlane: string, inbound: string, outbound: string) => ({
    configured,
    dataPlane,
    inbound,
    outbound,
  });

  it('handles the four protocols, lower-casing them first', () => {
    expect(pipyTreatment('http')).toEqual(t('http', 'http', 'http', 'http'));
    expect(pipyTreatment('grpc')).toEqual(t('grpc', 'grpc', 'http', 'http'));
    expect(pipyTreatment('tcp')).toEqual(t('tcp', 'tcp', 'tcp', 'tcp'));
    expect(pipyTreatment('tcp-server-first')).toEqual(t('tcp-server-first', 'tcp', 'tcp', 'tcp'));
    expect(pipyTreatment('TCP')).toEqual(t('tcp', 'tcp', 'tcp', 'tcp'));
    expect(pipyTreatment('HTTP')).toEqual(t('http', 'http', 'http', 'http'));
  });

  it('gives gRPC in another case no inbound rules (inbound tests the raw value)', () => {
    expect(pipyTreatment('gRPC')).toEqual(t('grpc', 'grpc', 'none', 'http'));
    expect(pipyTreatment('GRPC')).toEqual(t('grpc', 'grpc', 'none', 'http'));
  });

  it('handles anything but http and grpc as tcp in the data plane, with rules only for outbound https', () => {
    expect(pipyTreatment('https')).toEqual(t('https', 'tcp', 'none', 'tcp'));
    expect(pipyTreatment('kubernetes.io/h2c')).toEqual(t('kubernetes.io/h2c', 'tcp', 'none', 'none'));
    expect(pipyTreatment('MySQL')).toEqual(t('mysql', 'tcp', 'none', 'none'));
  });
});

describe('protocolAdvice (ports osm-edge likely guesses wrongly)', () => {
  it('says nothing for ports that are right', () => {
    expect(protocolAdvice({ name: 'http', port: 80 })).toBeUndefined();
    expect(protocolAdvice({ name: 'web', port: 8080 })).toBeUndefined();
    expect(protocolAdvice({ port: 14001 })).toBeUndefined();
    expect(protocolAdvice({ name: 'tcp-redis', port: 6379 })).toBeUndefined();
    expect(protocolAdvice({ name: 'mysql', port: 3306, appProtocol: 'tcp-server-first' })).toBeUndefined();
    // explicit choice, respected
    expect(protocolAdvice({ name: 'db', port: 3306, appProtocol: 'http' })).toBeUndefined();
    expect(protocolAdvice({ name: 'grpc-api', port: 9090 })).toBeUndefined();
    expect(protocolAdvice({ name: 'tcp-server-first-mysql', port: 3306 })).toBeUndefined();
    expect(protocolAdvice({ name: 'redis-metrics', port: 9121 })).toBeUndefined(); // an HTTP side port
  });

  it('ignores non-TCP ports (osm-edge intercepts TCP only)', () => {
    expect(protocolAdvice({ name: 'dns', port: 53, protocol: 'UDP' })).toBeUndefined();
    expect(protocolAdvice({ name: 'mysql', port: 3306, protocol: 'SCTP' })).toBeUndefined();
  });

  it('flags well-known non-HTTP ports without appProtocol or prefix', () => {
    const cases: [number, string][] = [
      [3306, 'tcp-server-first'],
      [5432, 'tcp-server-first'],
      [6379, 'tcp'],
      [27017, 'tcp'],
      [9092, 'tcp'],
      [5672, 'tcp'],
      [2181, 'tcp'],
      [11211, 'tcp'],
    ];
    for (const [port, suggested] of cases) {
      expect(protocolAdvice({ name: 'client', port }), String(port)).toMatchObject({
        reason: 'well-known-port',
        effective: 'http',
        source: 'default',
        suggested,
      });
    }
    expect(protocolAdvice({ name: 'backend', port: 80, targetPort: 6379 })).toMatchObject({
      reason: 'well-known-port',
      suggested: 'tcp',
    });
  });

  it('flags well-known non-HTTP names, including bare "tcp" and "grpc" (the prefix needs a dash)', () => {
    expect(protocolAdvice({ name: 'mysql', port: 3307 })).toMatchObject({
      reason: 'well-known-name',
      suggested: 'tcp-server-first',
    });
    expect(protocolAdvice({ name: 'postgres', port: 5433 })).toMatchObject({
      reason: 'well-known-name',
      suggested: 'tcp-server-first',
    });
    expect(protocolAdvice({ name: 'redis', port: 7000 })).toMatchObject({
      reason: 'well-known-name',
      suggested: 'tcp',
    });
    expect(protocolAdvice({ name: 'mongo-main', port: 7001 })).toMatchObject({
      reason: 'well-known-name',
      suggested: 'tcp',
    });
    expect(protocolAdvice({ name: 'tcp', port: 7002 })).toMatchObject({ reason: 'well-known-name', suggested: 'tcp' });
    expect(protocolAdvice({ name: 'grpc', port: 7003 })).toMatchObject({
      reason: 'well-known-name',
      suggested: 'grpc',
    });
    expect(protocolAdvice({ name: 'tcp-server-first', port: 3306 })).toMatchObject({
      reason: 'well-known-name',
      suggested: 'tcp-server-first',
      effective: 'tcp',
    });
  });

  it('flags https names (not a prefix osm-edge knows: falls back to http)', () => {
    expect(protocolAdvice({ name: 'https', port: 443 })).toMatchObject({
      reason: 'https-name',
      effective: 'http',
      suggested: 'tcp',
    });
    expect(protocolAdvice({ name: 'https-web', port: 8443 })).toMatchObject({ reason: 'https-name', suggested: 'tcp' });
  });

  it('flags gRPC in another case as broken inbound, and TCP/HTTP in upper case only as a matter of spelling', () => {
    const grpc = protocolAdvice({ name: 'api', appProtocol: 'gRPC' });
    expect(grpc).toMatchObject({ reason: 'miscased-app-protocol', level: 'warning', suggested: 'grpc' });
    expect(grpc?.message).toContain('inbound rules test the value as written');
    const tcp = protocolAdvice({ name: 'db', appProtocol: 'TCP' });
    expect(tcp).toMatchObject({ reason: 'app-protocol-case', level: 'info', effective: 'TCP', suggested: 'tcp' });
    expect(tcp?.message).toContain('lower-cases it and handles it as tcp');
    const http = protocolAdvice({ name: 'web', appProtocol: 'HTTP' });
    expect(http).toMatchObject({ reason: 'app-protocol-case', suggested: 'http' });
  });

  it('flags appProtocols osm-edge does not understand, saying what Pipy does with them', () => {
    const https = protocolAdvice({ name: 'web', appProtocol: 'https' });
    expect(https).toMatchObject({ reason: 'unsupported-app-protocol', level: 'warning', suggested: 'tcp' });
    expect(https?.message).toContain('passes calls to it through as tcp but builds no inbound rules');
    const h2c = protocolAdvice({ name: 'api', appProtocol: 'kubernetes.io/h2c' });
    expect(h2c?.message).toContain('handles it as tcp (anything but http and grpc), but no route rules are built');
    expect(h2c?.message).not.toContain('routed as http');
    expect(protocolAdvice({ name: 'api', appProtocol: 'kubernetes.io/h2c' })).toMatchObject({
      reason: 'unsupported-app-protocol',
      suggested: 'grpc',
    });
    expect(protocolAdvice({ name: 'db', appProtocol: 'mysql' })).toMatchObject({
      reason: 'unsupported-app-protocol',
      suggested: 'tcp-server-first',
    });
    expect(protocolAdvice({ name: 'x', appProtocol: 'example.com/custom' })).toMatchObject({
      reason: 'unsupported-app-protocol',
      suggested: 'tcp',
    });
    expect(protocolAdvice({ name: 'x', appProtocol: 'example.com/http-ish' })).toMatchObject({
      reason: 'unsupported-app-protocol',
      suggested: 'http',
    });
  });

  it('flags MySQL routed as plain tcp (the docs ask for tcp-server-first)', () => {
    expect(protocolAdvice({ name: 'tcp-mysql', port: 3306 })).toMatchObject({
      reason: 'server-first-as-tcp',
      source: 'name-prefix',
      suggested: 'tcp-server-first',
    });
    expect(protocolAdvice({ name: 'db', port: 3306, appProtocol: 'tcp' })).toMatchObject({
      reason: 'server-first-as-tcp',
      source: 'appProtocol',
    });
    expect(protocolAdvice({ name: 'tcp-db', port: 5432 })).toBeUndefined(); // PostgreSQL clients speak first: tcp works
  });
});
