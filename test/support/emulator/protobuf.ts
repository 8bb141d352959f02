// The one protobuf request body the emulator decodes: a SelfSubjectAccessReview, which kubectl `auth can-i` sends as
// application/vnd.kubernetes.protobuf (the `k8s\0` envelope around a runtime.Unknown, field numbers from
// k8s.io/api/authorization/v1/generated.proto). Every other protobuf body stays a 415 (README, known differences).

const MAGIC = Buffer.from([0x6b, 0x38, 0x73, 0x00]);

type Fields = Map<number, (Buffer | number)[]>;

/** Protocol buffers wire format: field number → values (varints as numbers, length-delimited as bytes). */
function fields(buf: Buffer): Fields {
  const out: Fields = new Map();
  let i = 0;
  const varint = (): number => {
    let value = 0;
    for (let shift = 0; ; shift += 7) {
      if (i >= buf.length) throw new Error('truncated varint');
      const b = buf[i++];
      value += (b & 0x7f) * 2 ** shift;
      if (!(b & 0x80)) return value;
    }
  };
  while (i < buf.length) {
    const key = varint();
    const field = Math.floor(key / 8);
    let value: Buffer | number;
    switch (key & 7) {
      case 0:
        value = varint();
        break;
      case 1:
        value = buf.subarray(i, (i += 8));
        break;
      case 2: {
        const length = varint();
        value = buf.subarray(i, (i += length));
        break;
      }
      case 5:
        value = buf.subarray(i, (i += 4));
        break;
      default:
        throw new Error(`unsupported wire type ${key & 7}`);
    }
    out.set(field, [...(out.get(field) ?? []), value]);
  }
  return out;
}

const bytes = (f: Fields, n: number): Buffer | undefined => {
  const v = f.get(n)?.at(-1);
  return Buffer.isBuffer(v) ? v : undefined;
};
const text = (f: Fields, n: number): string | undefined => bytes(f, n)?.toString('utf8');

function strings(f: Fields, names: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  names.forEach((name, i) => {
    const v = text(f, i + 1);
    if (v !== undefined) out[name] = v;
  });
  return out;
}

/**
 * The JSON form of a protobuf SelfSubjectAccessReview body, or undefined when the body is not one (a runtime.Unknown
 * of another kind): the caller answers 415 then, as for any protobuf body.
 */
export function decodeAccessReview(raw: Buffer): Record<string, unknown> | undefined {
  if (!raw.subarray(0, 4).equals(MAGIC)) return undefined;
  try {
    const unknown = fields(raw.subarray(4));
    const typeMeta = fields(bytes(unknown, 1) ?? Buffer.alloc(0));
    const apiVersion = text(typeMeta, 1);
    const kind = text(typeMeta, 2);
    if (kind !== 'SelfSubjectAccessReview') return undefined;
    const review = fields(bytes(unknown, 2) ?? Buffer.alloc(0));
    const spec = fields(bytes(review, 2) ?? Buffer.alloc(0));
    const out: Record<string, unknown> = {};
    const resource = bytes(spec, 1);
    if (resource)
      out.resourceAttributes = strings(fields(resource), [
        'namespace',
        'verb',
        'group',
        'version',
        'resource',
        'subresource',
        'name',
      ]);
    const nonResource = bytes(spec, 2);
    if (nonResource) out.nonResourceAttributes = strings(fields(nonResource), ['path', 'verb']);
    return { apiVersion, kind, metadata: {}, spec: out };
  } catch {
    return undefined;
  }
}
