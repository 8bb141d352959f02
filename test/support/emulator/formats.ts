// The string formats kube-apiserver checks in custom resources (apiextensions' supported formats,
// validated by kube-openapi's strfmt registry). Any other `format` is stripped before validation,
// as the apiserver does, so `int32`, `int-or-string` or a typo never fails a request.

import { isIP, isIPv4, isIPv6 } from 'node:net';

/** strfmt normalizes names: lower case, without `-` and `_` (so `date-time` is `datetime`). */
export function normalizeFormat(name: string): string {
  return name.toLowerCase().replace(/[-_]/g, '');
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
// strfmt's hostname pattern: one label, or dot-separated labels ending in a 2-63 letter TLD.
const LABEL_CHAR = '[a-zA-Z0-9\\p{S}\\p{L}]';
const HOSTNAME = new RegExp(
  `^(${LABEL_CHAR}((-?${LABEL_CHAR}{0,62})?)|` +
    `(${LABEL_CHAR}(([a-zA-Z0-9\\-\\p{S}\\p{L}]{0,61}${LABEL_CHAR})?)(\\.)){1,}([a-zA-Z\\p{L}]){2,63})$`,
  'u',
);
const RGB_PART = '\\s*(0|[1-9]\\d?|1\\d\\d?|2[0-4]\\d|25[0-5])\\s*';
const RGB = new RegExp(`^rgb\\(${RGB_PART},${RGB_PART},${RGB_PART}\\)$`);
const DURATION_UNITS =
  'ns|us|µs|ms|s|m|h|d|w|nanoseconds?|microseconds?|milliseconds?|seconds?|sec|minutes?|min|hours?|hr|days?|weeks?|wk';
const DURATION = new RegExp(`^(-?\\d+(\\.\\d+)?\\s*(${DURATION_UNITS}))+$`);
const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(:(\d{2})(\.\d+)?)?([Zz]|[+-]\d{2}:?\d{2})?$/;

function validDate(y: number, m: number, d: number): boolean {
  const date = new Date(Date.UTC(y, m - 1, d));
  return date.getUTCFullYear() === y && date.getUTCMonth() === m - 1 && date.getUTCDate() === d;
}

function isDate(s: string): boolean {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s);
  return !!m && validDate(Number(m[1]), Number(m[2]), Number(m[3]));
}

function isDateTime(s: string): boolean {
  const m = DATE_TIME.exec(s);
  if (!m || !validDate(Number(m[1]), Number(m[2]), Number(m[3]))) return false;
  return Number(m[4]) < 24 && Number(m[5]) < 60 && (m[7] === undefined || Number(m[7]) < 60);
}

function isCidr(s: string): boolean {
  const slash = s.indexOf('/');
  if (slash < 0) return false;
  const ip = s.slice(0, slash);
  const bits = s.slice(slash + 1);
  if (!/^\d{1,3}$/.test(bits) || !isIP(ip)) return false;
  return Number(bits) <= (isIPv4(ip) ? 32 : 128);
}

function luhn(digits: string): boolean {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = Number(digits[digits.length - 1 - i]);
    if (i % 2 === 1) d = d * 2 > 9 ? d * 2 - 9 : d * 2;
    sum += d;
  }
  return sum % 10 === 0;
}

function isIsbn10(s: string): boolean {
  const v = s.replace(/[\s-]/g, '');
  if (!/^\d{9}[\dX]$/.test(v)) return false;
  let sum = 0;
  for (let i = 0; i < 10; i++) sum += (i + 1) * (v[i] === 'X' ? 10 : Number(v[i]));
  return sum % 11 === 0;
}

function isIsbn13(s: string): boolean {
  const v = s.replace(/[\s-]/g, '');
  if (!/^\d{13}$/.test(v)) return false;
  let sum = 0;
  for (let i = 0; i < 12; i++) sum += Number(v[i]) * (i % 2 === 0 ? 1 : 3);
  return (10 - (sum % 10)) % 10 === Number(v[12]);
}

/** One checker per supported (normalized) format name. */
export const KUBE_FORMATS: Readonly<Record<string, (value: string) => boolean>> = {
  bsonobjectid: (s) => /^[0-9a-f]{24}$/i.test(s),
  // strfmt's uri is Go's url.Parse: almost anything without spaces or broken escapes.
  // eslint-disable-next-line no-control-regex -- Go's url.Parse refuses ASCII control characters
  uri: (s) => !/[\s\u0000-\u001f]/.test(s) && !/%(?![0-9a-fA-F]{2})/.test(s),
  email: (s) => /^[^@\s<>]+@[^@\s<>]+$/.test(s),
  hostname: (s) => s.length <= 255 && HOSTNAME.test(s),
  ipv4: (s) => isIPv4(s),
  ipv6: (s) => isIPv6(s),
  cidr: isCidr,
  mac: (s) =>
    /^([0-9a-f]{2}([:-])){5}[0-9a-f]{2}$/i.test(s) ||
    /^([0-9a-f]{2}([:-])){7}[0-9a-f]{2}$/i.test(s) ||
    /^([0-9a-f]{2}([:-])){19}[0-9a-f]{2}$/i.test(s) ||
    /^([0-9a-f]{4}\.){2,9}[0-9a-f]{4}$/i.test(s),
  uuid: (s) => UUID.test(s),
  uuid3: (s) => UUID.test(s) && s[14] === '3',
  uuid4: (s) => UUID.test(s) && s[14] === '4' && /[89ab]/i.test(s[19]),
  uuid5: (s) => UUID.test(s) && s[14] === '5' && /[89ab]/i.test(s[19]),
  isbn: (s) => isIsbn10(s) || isIsbn13(s),
  isbn10: isIsbn10,
  isbn13: isIsbn13,
  creditcard: (s) => {
    const digits = s.replace(/[\s-]/g, '');
    return /^\d{12,19}$/.test(digits) && luhn(digits);
  },
  ssn: (s) => /^\d{3}[- ]?\d{2}[- ]?\d{4}$/.test(s),
  hexcolor: (s) => /^#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$/.test(s),
  rgbcolor: (s) => RGB.test(s),
  byte: (s) => /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(s),
  password: () => true,
  date: isDate,
  duration: (s) => DURATION.test(s.trim()),
  datetime: isDateTime,
};
