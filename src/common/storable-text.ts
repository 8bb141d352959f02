// Text Postgres cannot store: a NUL character (text columns refuse 0x00, jsonb refuses \u0000) or an unpaired UTF-16
// surrogate (jsonb refuses a lone \ud800). Finds such strings in input, with their field paths, for the two places
// that refuse them as VALIDATION_FAILED: the REST edge (src/http/platform.ts: body and query string) and parseInput
// (every schema-checked input, GraphQL arguments included). Postgres's own refusal of one that got past them is
// recognised in to-domain-error.ts. Never echoes the offending value.
import { invalidInputMessage, MAX_FIELD_ISSUES, type FieldIssue } from './domain-error.js';
import { routerPath } from './request-path.js';

export const UNSTORABLE_TEXT_MESSAGE =
  'a text value holds a character that cannot be stored: NUL or an unpaired surrogate';

/** The field message: what is wrong, never the value. */
const FIELD_MESSAGE = 'must not hold a NUL character (U+0000) or an unpaired UTF-16 surrogate';
const KEY_MESSAGE = 'holds a key with a NUL character (U+0000) or an unpaired UTF-16 surrogate';

/** Any surrogate (paired ones are fine: LONE_SURROGATE tells). */
const SURROGATE = /[\ud800-\udfff]/;

/** A high surrogate not followed by a low one, or a low surrogate not preceded by a high one (UTF-16 units). */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** A string Postgres refuses to store as text or jsonb: one holding NUL or an unpaired surrogate. */
export function isUnstorableText(s: string): boolean {
  // The lookaround only for a string that holds a surrogate at all.
  return s.includes('\u0000') || (SURROGATE.test(s) && LONE_SURROGATE.test(s));
}

/** JSON-like input (a parsed body, a query, GraphQL arguments) nests this deep at most; deeper is not walked. */
const MAX_DEPTH = 64;

/**
 * Every field of `value` holding unstorable text, by path (`appProtocols.0.port`; `(body)` for the value itself, as
 * parseInput names it). A key holding such text names its object. Arrays and objects are walked (plain ones, and the
 * prototype-less kinds query parsers and graphql-js make), each once; binary data (a Buffer body: Slack's raw form)
 * is not text here.
 */
export function unstorableTextFields(value: unknown, path: (string | number)[] = []): FieldIssue[] {
  if (!mayHoldUnstorable(value)) return [];
  const out: FieldIssue[] = [];
  const seen = new WeakSet<object>();
  const field = (p: (string | number)[]) => p.join('.') || '(body)';
  const walk = (v: unknown, p: (string | number)[], depth: number) => {
    if (typeof v === 'string') {
      if (isUnstorableText(v)) out.push({ field: field(p), message: FIELD_MESSAGE });
      return;
    }
    if (depth >= MAX_DEPTH || v === null || typeof v !== 'object' || ArrayBuffer.isView(v) || seen.has(v)) return;
    seen.add(v);
    if (Array.isArray(v)) {
      v.forEach((item, i) => walk(item, [...p, i], depth + 1));
      return;
    }
    for (const [key, item] of Object.entries(v as Record<string, unknown>)) {
      if (isUnstorableText(key)) out.push({ field: field(p), message: KEY_MESSAGE });
      else walk(item, [...p, key], depth + 1);
    }
  };
  walk(value, path, 0);
  return out.filter((f, i, all) => all.findIndex((g) => g.field === f.field) === i);
}

/** Nodes the allocation-free first look visits before it leaves the answer to the full walk (cycles, huge input). */
const FIRST_LOOK_NODES = 10_000;

/**
 * The first look, on every request's input: whether any string or key may be unstorable, without building a path or
 * a set (most input holds none; the full walk names the fields when one does). Past its node budget it says "may".
 */
function mayHoldUnstorable(value: unknown): boolean {
  let budget = FIRST_LOOK_NODES;
  const look = (v: unknown, depth: number): boolean => {
    if (typeof v === 'string') return isUnstorableText(v);
    if (depth >= MAX_DEPTH || v === null || typeof v !== 'object' || ArrayBuffer.isView(v)) return false;
    if (--budget < 0) return true;
    if (Array.isArray(v)) return v.some((item) => look(item, depth + 1));
    for (const key in v) {
      if (!Object.prototype.hasOwnProperty.call(v, key)) continue;
      if (isUnstorableText(key) || look((v as Record<string, unknown>)[key], depth + 1)) return true;
    }
    return false;
  };
  return look(value, 0);
}

/**
 * The REST edge's 422 for a /v1 call whose query string or JSON body holds unstorable text, or undefined when the call
 * may go on. A query parameter is named as the routes' own validation names it (`namespace`), a body field by its path.
 */
export function unstorableInput(req: { path: string; query?: unknown; body?: unknown }): object | undefined {
  if (!routerPath(req.path).startsWith('/v1/')) return undefined;
  const fields = [...unstorableTextFields(req.query ?? {}), ...unstorableTextFields(req.body ?? {})].slice(
    0,
    MAX_FIELD_ISSUES,
  );
  if (!fields.length) return undefined;
  return {
    error: {
      code: 'VALIDATION_FAILED',
      message: invalidInputMessage(fields),
      fields,
    },
  };
}
