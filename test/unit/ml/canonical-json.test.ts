import { describe, expect, it } from 'vitest';
import { canonicalJson, CanonicalJsonError } from '../../../lib/ml/index.js';

describe('canonicalJson', () => {
  it('sorts keys at every depth and writes no whitespace', () => {
    const a = { b: 1, a: { z: [3, { y: true, x: null }], c: 'é"' } };
    const b = { a: { c: 'é"', z: [3, { x: null, y: true }] }, b: 1 };
    expect(canonicalJson(a)).toBe('{"a":{"c":"é\\"","z":[3,{"x":null,"y":true}]},"b":1}');
    expect(canonicalJson(b)).toBe(canonicalJson(a));
  });

  it('writes numbers as their shortest round-trip form and typed arrays as arrays', () => {
    expect(canonicalJson([0.1, 1e21, 5e-324, -0, 1 / 3])).toBe('[0.1,1e+21,5e-324,0,0.3333333333333333]');
    expect(canonicalJson({ v: Float64Array.of(1.5, -2), i: Int32Array.of(7) })).toBe('{"i":[7],"v":[1.5,-2]}');
  });

  it('leaves out undefined properties, as JSON does', () => {
    expect(canonicalJson({ a: undefined, b: 2 })).toBe('{"b":2}');
  });

  it('rejects NaN and infinities, naming where they are', () => {
    expect(() => canonicalJson({ trees: [{ value: [1, NaN] }] })).toThrow('$.trees[0].value[1]: NaN is not allowed');
    expect(() => canonicalJson({ 'odd key': Float64Array.of(Infinity) })).toThrow(
      '$["odd key"][0]: Infinity is not allowed'
    );
    const error = (() => {
      try {
        canonicalJson({ a: -Infinity });
      } catch (err) {
        return err;
      }
    })();
    expect(error).toBeInstanceOf(CanonicalJsonError);
    expect((error as CanonicalJsonError).path).toBe('$.a');
  });

  it('rejects values JSON cannot carry faithfully', () => {
    expect(() => canonicalJson({ m: new Map() })).toThrow(/\$\.m: a Map cannot be written/);
    expect(() => canonicalJson({ n: 1n })).toThrow(/\$\.n: a bigint/);
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    expect(() => canonicalJson(cycle)).toThrow('$.self: cycle');
  });
});
