import { describe, expect, it } from 'vitest';
import { embeddingBaseline, embeddingDrift } from '../../../lib/embeddings/drift.js';

const D = 16;
/** Unit vectors scattered around `center` (unit): a seeded LCG, no Math.random. */
function cloud(center: number[], n: number, spread: number, seed: number): Float32Array {
  let s = seed;
  const r = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32) * 2 - 1;
  const out = new Float32Array(n * D);
  for (let i = 0; i < n; i++) {
    const v = center.map((c) => c + spread * r());
    const norm = Math.hypot(...v);
    v.forEach((x, j) => (out[i * D + j] = x / norm));
  }
  return out;
}
const axis = (j: number) => Array.from({ length: D }, (_, i) => (i === j ? 1 : 0));

describe('embedding drift against an index baseline', () => {
  const corpus = cloud(axis(0), 2000, 0.3, 1);
  const baseline = embeddingBaseline(corpus, cloud(axis(0), 200, 0.3, 2), D);

  it('keeps a unit centroid, the direction projections are taken on', () => {
    expect(Math.hypot(...baseline.centroid)).toBeCloseTo(1, 9);
    expect(baseline.centroid[0]).toBeGreaterThan(0.9);
    expect(baseline.direction).toEqual(baseline.centroid);
    expect(baseline.projections).toHaveLength(2000);
  });

  it('does not alarm on queries from the corpus distribution', () => {
    const drift = embeddingDrift(baseline, cloud(axis(0), 300, 0.3, 3));
    expect(drift.drifted).toBe(false);
    expect(Math.abs(drift.centroidDistance - drift.baselineDistance)).toBeLessThan(0.02);
  });

  it('alarms on queries about something else: further from the centroid, and the projections differ', () => {
    const drift = embeddingDrift(baseline, cloud(axis(1), 300, 0.3, 4));
    expect(drift.drifted).toBe(true);
    expect(drift.centroidDistance).toBeGreaterThan(drift.baselineDistance + 0.5);
    expect(drift.ks.pValue).toBeLessThan(0.01);
  });
});
