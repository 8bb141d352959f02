// Label and field selectors with the grammar and semantics of k8s.io/apimachinery/pkg/labels and /fields.

import { isObject } from './types.js';

export type LabelOperator = 'exists' | '!' | '=' | '==' | '!=' | 'in' | 'notin' | 'gt' | 'lt';

export interface Requirement {
  key: string;
  operator: LabelOperator;
  values: string[];
}

export class SelectorParseError extends Error {}

const QUALIFIED_NAME_PART = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/** validation.IsQualifiedName; returns the problems (empty when valid). */
export function qualifiedNameErrors(value: string): string[] {
  const errs: string[] = [];
  const parts = value.split('/');
  let name: string;
  if (parts.length === 1) {
    name = parts[0];
  } else if (parts.length === 2) {
    const [prefix, rest] = parts;
    name = rest;
    if (prefix.length === 0) errs.push('prefix part must be non-empty');
    else if (prefix.length > 253) errs.push('prefix part must be no more than 253 characters');
    else if (!DNS1123_SUBDOMAIN.test(prefix))
      errs.push(
        "prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', " +
          "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is " +
          "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
      );
  } else {
    return [
      "a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an " +
        "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is " +
        "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. " +
        "'example.com/MyName')",
    ];
  }
  if (name.length === 0) errs.push('name part must be non-empty');
  else if (name.length > 63) errs.push('name part must be no more than 63 characters');
  if (name.length > 0 && !QUALIFIED_NAME_PART.test(name))
    errs.push(
      "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an " +
        "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is " +
        "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')",
    );
  return errs;
}

/** validation.IsValidLabelValue. */
export function labelValueErrors(value: string): string[] {
  const errs: string[] = [];
  if (value.length > 63) errs.push('must be no more than 63 characters');
  if (!LABEL_VALUE.test(value))
    errs.push(
      "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start " +
        "and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for " +
        "validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')",
    );
  return errs;
}

export class LabelSelector {
  constructor(readonly requirements: readonly Requirement[]) {}

  static everything(): LabelSelector {
    return new LabelSelector([]);
  }

  /**
   * A selector that matches nothing (metav1 LabelSelector that is nil in a webhook is "everything", so used
   * rarely).
   */
  static nothing(): LabelSelector {
    return new LabelSelector([{ key: '', operator: 'in', values: [] }]);
  }

  isEmpty(): boolean {
    return this.requirements.length === 0;
  }

  matches(labels: Record<string, string> | undefined): boolean {
    const set = labels ?? {};
    return this.requirements.every((r) => requirementMatches(r, set));
  }

  toString(): string {
    return this.requirements.map(requirementString).join(',');
  }
}

function requirementMatches(r: Requirement, labels: Record<string, string>): boolean {
  const has = Object.prototype.hasOwnProperty.call(labels, r.key);
  const value = labels[r.key];
  switch (r.operator) {
    case 'exists':
      return has;
    case '!':
      return !has;
    case '=':
    case '==':
    case 'in':
      return has && r.values.includes(value);
    case '!=':
    case 'notin':
      return !has || !r.values.includes(value);
    case 'gt':
    case 'lt': {
      if (!has || !/^-?\d+$/.test(value)) return false;
      const n = Number(value);
      const bound = Number(r.values[0]);
      return r.operator === 'gt' ? n > bound : n < bound;
    }
  }
}

function requirementString(r: Requirement): string {
  switch (r.operator) {
    case 'exists':
      return r.key;
    case '!':
      return `!${r.key}`;
    case 'in':
    case 'notin':
      return `${r.key} ${r.operator} (${[...r.values].sort().join(',')})`;
    case 'gt':
      return `${r.key}>${r.values[0]}`;
    case 'lt':
      return `${r.key}<${r.values[0]}`;
    default:
      return `${r.key}${r.operator}${r.values[0]}`;
  }
}

type Token =
  | { kind: 'id'; text: string }
  | { kind: 'op'; text: '=' | '==' | '!=' | '>' | '<' | '!' | ',' | '(' | ')' }
  | { kind: 'end' };

const SPECIAL = new Set(['=', '!', '(', ')', ',', '>', '<']);

function tokenize(input: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < input.length) {
    const ch = input[i];
    if (/\s/.test(ch)) {
      i++;
      continue;
    }
    if (ch === '=' && input[i + 1] === '=') {
      tokens.push({ kind: 'op', text: '==' });
      i += 2;
    } else if (ch === '!' && input[i + 1] === '=') {
      tokens.push({ kind: 'op', text: '!=' });
      i += 2;
    } else if (SPECIAL.has(ch)) {
      tokens.push({ kind: 'op', text: ch as '=' | '!' | '(' | ')' | ',' | '>' | '<' });
      i++;
    } else {
      let j = i;
      while (j < input.length && !SPECIAL.has(input[j]) && !/\s/.test(input[j])) j++;
      tokens.push({ kind: 'id', text: input.slice(i, j) });
      i = j;
    }
  }
  tokens.push({ kind: 'end' });
  return tokens;
}

/** labels.Parse: the string form used in `?labelSelector=`. */
export function parseLabelSelector(input: string | undefined | null): LabelSelector {
  if (input === undefined || input === null || input.trim() === '') return LabelSelector.everything();
  const tokens = tokenize(input);
  let pos = 0;
  const peek = (): Token => tokens[pos];
  const next = (): Token => tokens[pos++];
  const requirements: Requirement[] = [];

  const readValue = (): string => {
    const t = peek();
    if (t.kind === 'id') {
      pos++;
      return t.text;
    }
    return ''; // `key=` selects the empty value, as in apimachinery
  };

  for (;;) {
    let t = next();
    let negated = false;
    if (t.kind === 'op' && t.text === '!') {
      negated = true;
      t = next();
    }
    if (t.kind !== 'id')
      throw new SelectorParseError(`found '${tokenText(t)}', expected: !, identifier, or 'end of string'`);
    const key = t.text;
    validateKey(key);
    if (negated) {
      requirements.push({ key, operator: '!', values: [] });
    } else {
      const op = peek();
      if (op.kind === 'end' || (op.kind === 'op' && op.text === ',')) {
        requirements.push({ key, operator: 'exists', values: [] });
      } else if (op.kind === 'op' && (op.text === '=' || op.text === '==' || op.text === '!=')) {
        pos++;
        const value = readValue();
        validateValue(key, value);
        requirements.push({ key, operator: op.text, values: [value] });
      } else if (op.kind === 'op' && (op.text === '>' || op.text === '<')) {
        pos++;
        const value = readValue();
        if (!/^-?\d+$/.test(value))
          throw new SelectorParseError(`for 'Gt', 'Lt' operators, the value must be an integer`);
        requirements.push({ key, operator: op.text === '>' ? 'gt' : 'lt', values: [value] });
      } else if (op.kind === 'id' && (op.text === 'in' || op.text === 'notin')) {
        pos++;
        const open = next();
        if (open.kind !== 'op' || open.text !== '(')
          throw new SelectorParseError(`found '${tokenText(open)}', expected: '('`);
        const values: string[] = [];
        for (;;) {
          const value = readValue();
          validateValue(key, value);
          values.push(value);
          const sep = next();
          if (sep.kind === 'op' && sep.text === ')') break;
          if (sep.kind !== 'op' || sep.text !== ',')
            throw new SelectorParseError(`found '${tokenText(sep)}', expected: ',' or ')'`);
        }
        requirements.push({ key, operator: op.text, values });
      } else {
        throw new SelectorParseError(`found '${tokenText(op)}', expected: in, notin, =, ==, !=, gt, lt`);
      }
    }
    const sep = next();
    if (sep.kind === 'end') break;
    if (sep.kind !== 'op' || sep.text !== ',')
      throw new SelectorParseError(`found '${tokenText(sep)}', expected: ',' or 'end of string'`);
  }
  return new LabelSelector(requirements);
}

function tokenText(t: Token): string {
  return t.kind === 'end' ? '' : t.text;
}

function validateKey(key: string): void {
  const errs = qualifiedNameErrors(key);
  if (errs.length > 0) throw new SelectorParseError(`key: Invalid value: ${JSON.stringify(key)}: ${errs.join('; ')}`);
}

function validateValue(key: string, value: string): void {
  const errs = labelValueErrors(value);
  if (errs.length > 0)
    throw new SelectorParseError(`values[0][${key}]: Invalid value: ${JSON.stringify(value)}: ${errs.join('; ')}`);
}

/** metav1.LabelSelectorAsSelector for {matchLabels, matchExpressions}; a missing selector matches nothing. */
export function labelSelectorFromObject(selector: unknown, missingMatchesEverything = false): LabelSelector {
  if (!isObject(selector)) return missingMatchesEverything ? LabelSelector.everything() : LabelSelector.nothing();
  const requirements: Requirement[] = [];
  const matchLabels = isObject(selector.matchLabels) ? selector.matchLabels : {};
  for (const [key, value] of Object.entries(matchLabels))
    requirements.push({ key, operator: '=', values: [String(value)] });
  const expressions = Array.isArray(selector.matchExpressions) ? selector.matchExpressions : [];
  for (const expr of expressions) {
    if (!isObject(expr) || typeof expr.key !== 'string') continue;
    const values = Array.isArray(expr.values) ? expr.values.map(String) : [];
    switch (expr.operator) {
      case 'In':
        requirements.push({ key: expr.key, operator: 'in', values });
        break;
      case 'NotIn':
        requirements.push({ key: expr.key, operator: 'notin', values });
        break;
      case 'Exists':
        requirements.push({ key: expr.key, operator: 'exists', values: [] });
        break;
      case 'DoesNotExist':
        requirements.push({ key: expr.key, operator: '!', values: [] });
        break;
      default:
        throw new SelectorParseError(`${String(expr.operator)} is not a valid label selector operator`);
    }
  }
  return new LabelSelector(requirements);
}

// ---- field selectors ----

export interface FieldRequirement {
  field: string;
  operator: '=' | '==' | '!=';
  value: string;
}

export class FieldSelector {
  constructor(readonly requirements: readonly FieldRequirement[]) {}

  static everything(): FieldSelector {
    return new FieldSelector([]);
  }

  isEmpty(): boolean {
    return this.requirements.length === 0;
  }

  matches(fields: Record<string, string>): boolean {
    return this.requirements.every((r) => {
      const actual = fields[r.field] ?? '';
      return r.operator === '!=' ? actual !== r.value : actual === r.value;
    });
  }
}

/** fields.ParseSelector, including backslash escapes for `,`, `=`, `!` and `\`. */
export function parseFieldSelector(input: string | undefined | null): FieldSelector {
  if (input === undefined || input === null || input.trim() === '') return FieldSelector.everything();
  const terms: string[] = [];
  let current = '';
  for (let i = 0; i < input.length; i++) {
    const ch = input[i];
    if (ch === '\\' && i + 1 < input.length) {
      current += ch + input[++i];
    } else if (ch === ',') {
      terms.push(current);
      current = '';
    } else {
      current += ch;
    }
  }
  terms.push(current);
  const requirements: FieldRequirement[] = [];
  for (const term of terms) {
    if (term === '') continue;
    const match = splitFieldTerm(term);
    if (!match) throw new SelectorParseError(`invalid selector: '${input}'; can't understand '${term}'`);
    requirements.push(match);
  }
  return new FieldSelector(requirements);
}

function splitFieldTerm(term: string): FieldRequirement | undefined {
  for (let i = 0; i < term.length; i++) {
    if (term[i] === '\\') {
      i++;
      continue;
    }
    for (const op of ['!=', '==', '='] as const) {
      if (term.startsWith(op, i)) {
        return {
          field: unescapeField(term.slice(0, i)),
          operator: op,
          value: unescapeField(term.slice(i + op.length)),
        };
      }
    }
  }
  return undefined;
}

function unescapeField(s: string): string {
  return s.replace(/\\(.)/g, '$1');
}
