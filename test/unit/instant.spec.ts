import { describe, expect, it } from 'vitest';
import { readInstant } from '../../src/common/instant.js';

const at = (text: string) => {
  const r = readInstant(text);
  return 'ms' in r ? new Date(r.ms).toISOString() : r.problem;
};

describe('readInstant: the instants a caller writes (audit export since/until)', () => {
  it('reads a date as UTC midnight and a timestamp in its own zone, to the millisecond', () => {
    expect(at('2026-01-04')).toBe('2026-01-04T00:00:00.000Z');
    expect(at('0050-06-01')).toBe('0050-06-01T00:00:00.000Z'); // not 1950 (Date.UTC's two-digit years)
    expect(at('2024-02-29')).toBe('2024-02-29T00:00:00.000Z');
    expect(at('2000-02-29')).toBe('2000-02-29T00:00:00.000Z');
    expect(at('2026-01-01T10:00Z')).toBe('2026-01-01T10:00:00.000Z');
    expect(at('2026-01-01 10:00:40.5z')).toBe('2026-01-01T10:00:40.500Z');
    expect(at('2026-01-01T10:00:40.515+05:30')).toBe('2026-01-01T04:30:40.515Z');
    expect(at('2026-01-01T00:00:00-0100')).toBe('2026-01-01T01:00:00.000Z');
    expect(at('0001-01-01T00:00:00Z')).toBe('0001-01-01T00:00:00.000Z');
    expect(at('9999-12-31T23:59:59.999Z')).toBe('9999-12-31T23:59:59.999Z');
  });

  it('refuses what Date would shift, read in local time, cut, or write with a year Postgres refuses', () => {
    for (const text of ['2026-02-30', '2026-04-31', '2025-02-29', '1900-02-29', '2026-13-01', '2026-00-10']) {
      expect(at(text), text).toBe('is not a calendar date');
    }
    for (const text of ['2026-01-01T24:00:00Z', '2026-01-01T10:60Z', '2026-01-01T10:00:60Z']) {
      expect(at(text), text).toBe('is not a time of day (00:00:00 to 23:59:59)');
    }
    expect(at('2026-01-01T10:00:00+24:00')).toBe('has a time zone offset out of range');
    expect(at('2026-01-01T10:00:00')).toMatch(/^must name its time zone/);
    expect(at('2026-01-01T10:00:40.5159Z')).toBe('must have at most 3 fraction digits (millisecond precision)');
    for (const text of ['0000-01-01', '0001-01-01T00:30:00+01:00', '9999-12-31T23:30:00-01:00']) {
      expect(at(text), text).toBe('must be between 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999Z');
    }
    for (const text of ['yesterday', '', '2026-1-1', '+002026-01-01', '2026-01-01T10Z', '1767225600']) {
      expect(at(text), text).toMatch(/^must be an ISO 8601 date/);
    }
  });
});
