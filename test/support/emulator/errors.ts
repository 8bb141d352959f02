// metav1.Status errors with the exact shapes and messages of k8s.io/apimachinery/pkg/api/errors.

export type StatusReason =
  | ''
  | 'NotFound'
  | 'AlreadyExists'
  | 'Conflict'
  | 'Invalid'
  | 'BadRequest'
  | 'Unauthorized'
  | 'Forbidden'
  | 'MethodNotAllowed'
  | 'NotAcceptable'
  | 'UnsupportedMediaType'
  | 'TooManyRequests'
  | 'InternalError'
  | 'ServiceUnavailable'
  | 'Timeout'
  | 'Expired'
  | 'Gone'
  | 'RequestEntityTooLarge';

export interface StatusCause {
  reason?: string;
  message?: string;
  field?: string;
}

export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  uid?: string;
  causes?: StatusCause[];
  retryAfterSeconds?: number;
}

export interface StatusBody {
  kind: 'Status';
  apiVersion: 'v1';
  /** ListMeta: empty, but for the continue token of a 410 for an expired continue token. */
  metadata: { continue?: string };
  status: 'Failure' | 'Success';
  message?: string;
  reason?: StatusReason;
  details?: StatusDetails;
  code: number;
}

export class StatusError extends Error {
  constructor(readonly status: StatusBody) {
    super(status.message ?? status.reason ?? `status ${status.code}`);
    this.name = 'StatusError';
  }
  get code(): number {
    return this.status.code;
  }
}

export interface GroupResource {
  group: string;
  resource: string;
}

/** schema.GroupResource.String(): "deployments.apps", or "namespaces" for the core group. */
export function grString(gr: GroupResource): string {
  return gr.group ? `${gr.resource}.${gr.group}` : gr.resource;
}

function failure(code: number, reason: StatusReason, message: string, details?: StatusDetails): StatusError {
  const body: StatusBody = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, code };
  if (reason) body.reason = reason;
  const cleaned = details ? pruneDetails(details) : undefined;
  if (cleaned) body.details = cleaned;
  return new StatusError(body);
}

// Go omits empty fields (omitempty), so details keep only what is set.
function pruneDetails(details: StatusDetails): StatusDetails | undefined {
  const out: StatusDetails = {};
  if (details.name) out.name = details.name;
  if (details.group) out.group = details.group;
  if (details.kind) out.kind = details.kind;
  if (details.uid) out.uid = details.uid;
  if (details.causes && details.causes.length > 0) out.causes = details.causes;
  if (details.retryAfterSeconds) out.retryAfterSeconds = details.retryAfterSeconds;
  return Object.keys(out).length > 0 ? out : undefined;
}

export function notFound(gr: GroupResource, name: string): StatusError {
  return failure(404, 'NotFound', `${grString(gr)} "${name}" not found`, { name, group: gr.group, kind: gr.resource });
}

export function alreadyExists(gr: GroupResource, name: string): StatusError {
  return failure(409, 'AlreadyExists', `${grString(gr)} "${name}" already exists`, {
    name,
    group: gr.group,
    kind: gr.resource,
  });
}

export function generateNameConflict(gr: GroupResource, name: string): StatusError {
  return failure(
    409,
    'AlreadyExists',
    `${grString(gr)} "${name}" already exists, the server was not able to generate a unique name for the object`,
    {
      name,
      group: gr.group,
      kind: gr.resource,
      retryAfterSeconds: 1,
    },
  );
}

export const OBJECT_MODIFIED =
  'the object has been modified; please apply your changes to the latest version and try again';

export function conflict(gr: GroupResource, name: string, why: string = OBJECT_MODIFIED): StatusError {
  return failure(409, 'Conflict', `Operation cannot be fulfilled on ${grString(gr)} "${name}": ${why}`, {
    name,
    group: gr.group,
    kind: gr.resource,
  });
}

export function forbidden(gr: GroupResource | undefined, name: string, why: string): StatusError {
  let message: string;
  if (!gr || !gr.resource) message = `forbidden: ${why}`;
  else if (!name) message = `${grString(gr)} is forbidden: ${why}`;
  else message = `${grString(gr)} "${name}" is forbidden: ${why}`;
  return failure(403, 'Forbidden', message, gr ? { name, group: gr.group, kind: gr.resource } : undefined);
}

export function badRequest(message: string): StatusError {
  return failure(400, 'BadRequest', message);
}

export function unauthorized(): StatusError {
  return failure(401, 'Unauthorized', 'Unauthorized');
}

export function methodNotSupported(gr: GroupResource, action: string): StatusError {
  return failure(405, 'MethodNotAllowed', `${action} is not supported on resources of kind "${grString(gr)}"`, {
    group: gr.group,
    kind: gr.resource,
  });
}

export function unsupportedMediaType(accepted: readonly string[]): StatusError {
  return failure(
    415,
    'UnsupportedMediaType',
    `the body of the request was in an unknown format - accepted media types include: ${accepted.join(', ')}`,
  );
}

export function notAcceptable(accepted: readonly string[]): StatusError {
  return failure(406, 'NotAcceptable', `only the following media types are accepted: ${accepted.join(', ')}`);
}

export function internalError(message: string): StatusError {
  return failure(500, 'InternalError', `Internal error occurred: ${message}`, { causes: [{ message }] });
}

/** An error the apiserver did not convert into a Status (500 with an empty reason). */
export function unknownError(message: string): StatusError {
  return failure(500, '', message);
}

export function tooManyRequests(message: string, retryAfterSeconds: number): StatusError {
  return failure(429, 'TooManyRequests', message, { retryAfterSeconds });
}

export function serviceUnavailable(message: string): StatusError {
  return failure(503, 'ServiceUnavailable', message);
}

export function timeoutError(message: string, retryAfterSeconds = 0): StatusError {
  return failure(504, 'Timeout', `Timeout: ${message}`, { retryAfterSeconds });
}

export function resourceExpired(message: string, continueToken?: string): StatusError {
  const err = failure(410, 'Expired', message);
  if (continueToken) err.status.metadata.continue = continueToken;
  return err;
}

/**
 * errors.NewGenericServerResponse as the apiserver calls it (isUnexpectedResponse false): a fixed message per code,
 * and Details that are always there and empty (`"details":{}`): the server's own message is not sent.
 */
export function genericServerResponse(code: 404 | 405 | 422): StatusError {
  const known = {
    404: ['NotFound', 'the server could not find the requested resource'],
    405: ['MethodNotAllowed', 'the server does not allow this method on the requested resource'],
    422: ['Invalid', 'the server rejected our request due to an error in our request'],
  } as const;
  const [reason, message] = known[code];
  const err = failure(code, reason, message);
  err.status.details = {};
  return err;
}

/**
 * The JSON patch handler's answer to a patch that does not apply (a failed `test`, a missing path): patch.go's
 * applyJSPatch answers NewGenericServerResponse(422, …, err.Error(), 0, false), so the json-patch error itself never
 * reaches the client (kubectl prints "The request is invalid: the server rejected our request …").
 */
export function genericUnprocessable(): StatusError {
  return genericServerResponse(422);
}

/** A rejection by an admission webhook (apiserver's webhookerrors.ToStatusErr): code 400, no reason. */
export function webhookDenied(webhookName: string, message: string, code = 400): StatusError {
  return failure(code < 400 ? 400 : code, '', `admission webhook "${webhookName}" denied the request: ${message}`);
}

// ---- field errors (k8s.io/apimachinery/pkg/util/validation/field) ----

export type FieldErrorType =
  | 'FieldValueRequired'
  | 'FieldValueInvalid'
  | 'FieldValueNotSupported'
  | 'FieldValueDuplicate'
  | 'FieldValueForbidden'
  | 'FieldValueTooLong'
  | 'FieldValueTooMany'
  | 'FieldValueTypeInvalid'
  | 'FieldValueNotFound';

export interface FieldError {
  type: FieldErrorType;
  field: string;
  /** Already formatted the way Go prints the bad value. */
  value?: string;
  detail?: string;
}

const GO_ESCAPES: Record<string, string> = {
  '\x07': '\\a',
  '\b': '\\b',
  '\f': '\\f',
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
  '\v': '\\v',
};
const hex = (code: number, width: number): string => code.toString(16).padStart(width, '0');

/** strconv.Quote: Go's `%q` of a string (`\a`, `\x1b`, `\u200b` where JSON would write `\u0007`). */
export function goQuote(text: string): string {
  let out = '"';
  for (const ch of text) {
    const code = ch.codePointAt(0)!;
    if (ch === '"' || ch === '\\') out += `\\${ch}`;
    else if (GO_ESCAPES[ch]) out += GO_ESCAPES[ch];
    else if (code < 0x20 || code === 0x7f) out += `\\x${hex(code, 2)}`;
    else if (/[\p{L}\p{M}\p{N}\p{P}\p{S} ]/u.test(ch)) out += ch;
    else out += code > 0xffff ? `\\U${hex(code, 8)}` : `\\u${hex(code, 4)}`;
  }
  return `${out}"`;
}

/** Go-style rendering of a bad value inside a field error message. */
export function formatValue(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'string') return goQuote(value);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return `[]interface {}{${value.map(formatValue).join(', ')}}`;
  const entries = Object.entries(value as Record<string, unknown>).map(
    ([k, v]) => `${JSON.stringify(k)}:${formatValue(v)}`,
  );
  return `map[string]interface {}{${entries.join(', ')}}`;
}

export const fieldErr = {
  required: (field: string, detail = ''): FieldError => ({ type: 'FieldValueRequired', field, detail }),
  invalid: (field: string, value: unknown, detail: string): FieldError => ({
    type: 'FieldValueInvalid',
    field,
    value: formatValue(value),
    detail,
  }),
  invalidRaw: (field: string, valueRepr: string, detail: string): FieldError => ({
    type: 'FieldValueInvalid',
    field,
    value: valueRepr,
    detail,
  }),
  typeInvalid: (field: string, value: unknown, detail: string): FieldError => ({
    type: 'FieldValueTypeInvalid',
    field,
    value: formatValue(value),
    detail,
  }),
  notSupported: (field: string, value: unknown, supported: readonly string[]): FieldError => ({
    type: 'FieldValueNotSupported',
    field,
    value: formatValue(value),
    detail: supported.length ? `supported values: ${supported.map((s) => JSON.stringify(s)).join(', ')}` : '',
  }),
  duplicate: (field: string, value: unknown): FieldError => ({
    type: 'FieldValueDuplicate',
    field,
    value: formatValue(value),
  }),
  notFound: (field: string, value: unknown): FieldError => ({
    type: 'FieldValueNotFound',
    field,
    value: formatValue(value),
  }),
  forbidden: (field: string, detail: string): FieldError => ({ type: 'FieldValueForbidden', field, detail }),
  tooLong: (field: string, max: number): FieldError => ({
    type: 'FieldValueTooLong',
    field,
    detail: `may not be more than ${max} bytes`,
  }),
  tooMany: (field: string, actual: number, max: number): FieldError => ({
    type: 'FieldValueTooMany',
    field,
    value: String(actual),
    detail: `must have at most ${max} items`,
  }),
};

/** field.Error.ErrorBody(): the message without the field path. */
export function fieldErrorBody(e: FieldError): string {
  let body: string;
  switch (e.type) {
    case 'FieldValueRequired':
      body = 'Required value';
      break;
    case 'FieldValueForbidden':
      body = 'Forbidden';
      break;
    case 'FieldValueTooLong':
      body = 'Too long';
      break;
    case 'FieldValueTooMany':
      body = e.value === undefined ? 'Too many' : `Too many: ${e.value}`;
      break;
    case 'FieldValueNotSupported':
      body = `Unsupported value: ${e.value}`;
      break;
    case 'FieldValueDuplicate':
      body = `Duplicate value: ${e.value}`;
      break;
    case 'FieldValueNotFound':
      body = `Not found: ${e.value}`;
      break;
    default:
      body = `Invalid value: ${e.value}`;
  }
  return e.detail ? `${body}: ${e.detail}` : body;
}

export function fieldErrorString(e: FieldError): string {
  return e.field ? `${e.field}: ${fieldErrorBody(e)}` : fieldErrorBody(e);
}

/** errors.NewInvalid: 422 with one cause per field error and Go's aggregate message. */
export function invalid(kind: string, group: string, name: string, errs: readonly FieldError[]): StatusError {
  const qualifiedKind = group ? `${kind}.${group}` : kind;
  const messages = [...new Set(errs.map(fieldErrorString))];
  const aggregate = messages.length === 1 ? messages[0] : `[${messages.join(', ')}]`;
  const message =
    messages.length === 0
      ? `${qualifiedKind} "${name}" is invalid`
      : `${qualifiedKind} "${name}" is invalid: ${aggregate}`;
  return failure(422, 'Invalid', message, {
    name,
    group,
    kind,
    causes: errs.map((e) => ({ reason: e.type, message: fieldErrorBody(e), field: e.field })),
  });
}

export function successStatus(details: StatusDetails): Omit<StatusBody, 'code'> & { code?: number } {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details: pruneDetails(details) };
}

export function isStatusError(err: unknown): err is StatusError {
  return err instanceof StatusError;
}

/** A Status for an arbitrary HTTP code, with the reason the apiserver would use for it. */
export function statusForCode(code: number, message: string, retryAfterSeconds?: number): StatusError {
  const reasons: Record<number, StatusReason> = {
    400: 'BadRequest',
    401: 'Unauthorized',
    403: 'Forbidden',
    404: 'NotFound',
    405: 'MethodNotAllowed',
    406: 'NotAcceptable',
    409: 'Conflict',
    410: 'Expired',
    413: 'RequestEntityTooLarge',
    415: 'UnsupportedMediaType',
    422: 'Invalid',
    429: 'TooManyRequests',
    500: 'InternalError',
    503: 'ServiceUnavailable',
    504: 'Timeout',
  };
  const reason = reasons[code] ?? (code >= 500 ? 'InternalError' : '');
  return failure(code, reason, message, retryAfterSeconds ? { retryAfterSeconds } : undefined);
}

/** encoding/json's quoteChar: a character as its syntax errors show it. */
function quoteChar(c: string): string {
  if (c === "'") return `'\\''`;
  if (c === '"') return `'"'`;
  const code = c.charCodeAt(0);
  // strconv.Quote's escapes: \a \b \f \n \r \t \v, else \xNN for the other control characters.
  const named: Record<number, string> = { 7: 'a', 8: 'b', 12: 'f', 10: 'n', 13: 'r', 9: 't', 11: 'v' };
  if (code < 0x20 || code === 0x7f) return `'\\${named[code] ?? `x${code.toString(16).padStart(2, '0')}`}'`;
  return `'${c}'`;
}

/**
 * What Go's encoding/json says of the text V8's JSON.parse refused (`err` its SyntaxError), so a body or token that
 * is not JSON is described in kube-apiserver's words, not JavaScript's ("unexpected end of JSON input", "invalid
 * character 'x' looking for beginning of value", …). Go's message for a bad literal (`tru}`) names the literal;
 * that one is given as the generic "looking for beginning of value".
 */
export function goJsonError(err: unknown, text: string): string {
  const message = err instanceof Error ? err.message : String(err);
  const at = /at position (\d+)/.exec(message);
  const pos = at ? Number(at[1]) : -1;
  if (/end of JSON input/i.test(message) || (at && pos >= text.length)) return 'unexpected end of JSON input';
  const token = /^Unexpected token '(.)'/su.exec(message);
  const c = token ? token[1] : pos >= 0 ? text[pos] : undefined;
  if (c === undefined) return 'invalid character looking for beginning of value';
  const where: [RegExp, string][] = [
    [/Expected (double-quoted )?property name/, 'looking for beginning of object key string'],
    [/Expected ':' after property name/, 'after object key'],
    [/after property value/, 'after object key:value pair'],
    [/after array element/, 'after array element'],
    [/non-whitespace character after JSON/, 'after top-level value'],
    [/control character in string literal/, 'in string literal'],
  ];
  const context = where.find(([re]) => re.test(message))?.[1] ?? 'looking for beginning of value';
  return `invalid character ${quoteChar(c)} ${context}`;
}
