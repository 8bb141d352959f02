// Owns reading an instant a caller writes (the audit export's `since`/`until`): RFC 3339 with an explicit zone, or a
// date alone meaning UTC midnight; every field checked against the calendar (no February 30, no 24:00, which Date
// would silently move to the next day); millisecond precision at most (timestamps are stored as timestamptz(3) and
// answered with toISOString: a finer bound would be cut, and `since` 40.515999 would take an event at 40.515); and
// years 0001-9999 in UTC (the instants toISOString writes with four digits, which Postgres reads: it refuses year
// 0000 with 22008). A zod schema, so a refusal is the usual VALIDATION_FAILED naming the field.
import { z } from 'zod';

/** The first and last instants accepted: years 0001-9999 (UTC), as stored timestamps and page cursors hold them. */
export const INSTANT_MIN = Date.parse('0001-01-01T00:00:00.000Z');
export const INSTANT_MAX = Date.parse('9999-12-31T23:59:59.999Z');

export const INSTANT_FORMAT_MESSAGE =
  'must be an ISO 8601 date (YYYY-MM-DD: UTC midnight) or timestamp with its time zone, e.g. 2026-11-26T04:00:00Z';

/** Date, then optionally time (seconds, fraction), then the zone; checked field by field below. */
const SHAPE =
  /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?(?:([Zz])|([+-])(\d{2}):?(\d{2}))?)?$/;

const daysIn = (year: number, month: number) =>
  month === 2
    ? year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0)
      ? 29
      : 28
    : [4, 6, 9, 11].includes(month)
      ? 30
      : 31;

/** The instant `text` names (epoch milliseconds), or the reason it names none. */
export function readInstant(text: string): { ms: number } | { problem: string } {
  const m = SHAPE.exec(text);
  if (!m) return { problem: INSTANT_FORMAT_MESSAGE };
  const [, y, mo, d, h, mi, s, fraction, z, sign, oh, om] = m;
  const [year, month, day] = [Number(y), Number(mo), Number(d)];
  const [hour, minute, second] = [Number(h ?? 0), Number(mi ?? 0), Number(s ?? 0)];
  if (h !== undefined && !z && !sign) {
    return { problem: 'must name its time zone (Z or ±hh:mm); a date alone (YYYY-MM-DD) is UTC midnight' };
  }
  if (month < 1 || month > 12 || day < 1 || day > daysIn(year, month)) return { problem: 'is not a calendar date' };
  if (hour > 23 || minute > 59 || second > 59) return { problem: 'is not a time of day (00:00:00 to 23:59:59)' };
  if (Number(oh ?? 0) > 23 || Number(om ?? 0) > 59) return { problem: 'has a time zone offset out of range' };
  if (fraction !== undefined && fraction.length > 3) {
    return { problem: 'must have at most 3 fraction digits (millisecond precision)' };
  }
  // setUTCFullYear: Date.UTC would read years 0-99 as 1900-1999.
  const at = new Date(0);
  at.setUTCFullYear(year, month - 1, day);
  at.setUTCHours(hour, minute, second, Number((fraction ?? '').padEnd(3, '0')));
  const offset = sign ? (sign === '-' ? -1 : 1) * (Number(oh) * 60 + Number(om)) * 60_000 : 0;
  const ms = at.getTime() - offset;
  if (ms < INSTANT_MIN || ms > INSTANT_MAX) {
    return { problem: 'must be between 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999Z' };
  }
  return { ms };
}

/** A query parameter holding an instant (see readInstant), parsed to a Date. */
export const instantSchema = () =>
  z.string({ error: 'must be a string' }).transform((text, ctx): Date => {
    const read = readInstant(text);
    if ('problem' in read) {
      ctx.addIssue({ code: 'custom', message: read.problem });
      return z.NEVER;
    }
    return new Date(read.ms);
  });
