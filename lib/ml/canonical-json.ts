/**
 * Canonical JSON: object keys sorted (by UTF-16 code units) at every depth, no whitespace, numbers as JavaScript
 * prints them (the shortest string that round-trips), typed arrays as plain arrays. The same value always gives
 * the same bytes, so a model's digest identifies what it computes.
 *
 * Rejected, with the path of the offending value: NaN and ±Infinity (JSON cannot carry them and silently writing
 * null would change the model), bigint, functions, symbols, Map, Set and cycles. Undefined object properties are
 * left out and undefined array items become null, as JSON.stringify does; objects with toJSON (Date) use it.
 */
export class CanonicalJsonError extends Error {
  override readonly name = 'CanonicalJsonError';
  constructor(
    readonly path: string,
    readonly reason: string
  ) {
    super(`${path}: ${reason}`);
  }
}

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

function child(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  return IDENTIFIER.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;
}

function numberText(value: number, path: string): string {
  if (!Number.isFinite(value)) throw new CanonicalJsonError(path, `${value} is not allowed in JSON`);
  return JSON.stringify(value);
}

export function canonicalJson(value: unknown): string {
  const out: string[] = [];
  write(value, '$', out, new Set());
  return out.join('');
}

function write(value: unknown, path: string, out: string[], stack: Set<object>): void {
  switch (typeof value) {
    case 'number':
      out.push(numberText(value, path));
      return;
    case 'string':
      out.push(JSON.stringify(value));
      return;
    case 'boolean':
      out.push(value ? 'true' : 'false');
      return;
    case 'undefined':
      out.push('null');
      return;
    case 'object':
      break;
    default:
      throw new CanonicalJsonError(path, `a ${typeof value} cannot be written as JSON`);
  }
  if (value === null) {
    out.push('null');
    return;
  }
  if (ArrayBuffer.isView(value)) {
    if (value instanceof DataView || value instanceof BigInt64Array || value instanceof BigUint64Array) {
      throw new CanonicalJsonError(path, `a ${value.constructor.name} cannot be written as JSON`);
    }
    const items = value as unknown as ArrayLike<number>;
    out.push('[');
    for (let i = 0; i < items.length; i++) {
      if (i > 0) out.push(',');
      out.push(numberText(items[i]!, child(path, i)));
    }
    out.push(']');
    return;
  }
  if (value instanceof Map || value instanceof Set) {
    throw new CanonicalJsonError(path, `a ${value.constructor.name} cannot be written as JSON; convert it first`);
  }
  if (stack.has(value)) throw new CanonicalJsonError(path, 'cycle');
  const withToJson = value as { toJSON?: unknown };
  if (typeof withToJson.toJSON === 'function') {
    write((withToJson.toJSON as () => unknown).call(value), path, out, stack);
    return;
  }
  stack.add(value);
  if (Array.isArray(value)) {
    out.push('[');
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out.push(',');
      write(value[i], child(path, i), out, stack);
    }
    out.push(']');
  } else {
    const record = value as Record<string, unknown>;
    out.push('{');
    let first = true;
    for (const key of Object.keys(record).sort()) {
      const item = record[key];
      if (item === undefined) continue;
      if (!first) out.push(',');
      first = false;
      out.push(JSON.stringify(key), ':');
      write(item, child(path, key), out, stack);
    }
    out.push('}');
  }
  stack.delete(value);
}
