// Drift of query embeddings against the corpus an index was built from: how far queries sit from the corpus's
// centroid (mean cosine distance), and a two-sample Kolmogorov-Smirnov test of their projections on the centroid
// (their cosine similarity to it) against the corpus's. The baseline is computed when the index is built and stored with it.
import { ksTwoSample } from '../drift/ks.js';

export interface EmbeddingBaseline {
  dimensions: number;
  /** The corpus's mean vector, L2-normalised. */
  centroid: number[];
  /** The direction projections are taken on: the centroid. */
  direction: number[];
  /** The corpus vectors' projections on `direction`, at most PROJECTION_SAMPLE of them (every n-th row). */
  projections: number[];
  /** Mean cosine distance to the centroid of the held-out queries (same topic as the corpus). */
  heldOutDistance: number;
}

export interface EmbeddingDrift {
  queries: number;
  /** Mean cosine distance of the queries to the corpus centroid. */
  centroidDistance: number;
  /** The same for the held-out queries at build time. */
  baselineDistance: number;
  ks: { statistic: number; pValue: number };
  drifted: boolean;
}

const PROJECTION_SAMPLE = 5000;

function dot(vectors: Float32Array, row: number, other: readonly number[]): number {
  let s = 0;
  const d = other.length;
  for (let j = 0; j < d; j++) s += vectors[row * d + j]! * other[j]!;
  return s;
}

/** Mean cosine distance of unit vectors to a unit centroid. */
function meanDistance(vectors: Float32Array, centroid: readonly number[]): number {
  const rows = vectors.length / centroid.length;
  let s = 0;
  for (let i = 0; i < rows; i++) s += 1 - dot(vectors, i, centroid);
  return rows ? s / rows : NaN;
}

export function embeddingBaseline(corpus: Float32Array, heldOut: Float32Array, dimensions: number): EmbeddingBaseline {
  const rows = corpus.length / dimensions;
  const sum = new Float64Array(dimensions);
  for (let i = 0; i < rows; i++) for (let j = 0; j < dimensions; j++) sum[j]! += corpus[i * dimensions + j]!;
  const norm = Math.hypot(...sum) || 1;
  const centroid = Array.from(sum, (x) => x / norm);
  // The projection tested is on the centroid: a query's projection is its cosine similarity to the corpus's centre,
  // which is what a change of topic moves. (A random direction missed a shift from animals to food that moved the
  // mean distance from 0.54 to 0.86: p 0.53.)
  const direction = centroid;
  const stride = Math.max(1, Math.ceil(rows / PROJECTION_SAMPLE));
  const projections: number[] = [];
  for (let i = 0; i < rows; i += stride) projections.push(dot(corpus, i, direction));
  return { dimensions, centroid, direction, projections, heldOutDistance: meanDistance(heldOut, centroid) };
}

/**
 * Drift of `queries` (unit vectors) from the baseline: alarmed when the KS test rejects at `alpha` and the queries sit
 * at least `minShift` further from the centroid than the held-out queries did (a test alone flags tiny shifts in
 * large samples).
 */
export function embeddingDrift(
  baseline: EmbeddingBaseline,
  queries: Float32Array,
  options: { alpha?: number; minShift?: number } = {}
): EmbeddingDrift {
  const { alpha = 0.01, minShift = 0.05 } = options;
  const n = queries.length / baseline.dimensions;
  const projected = new Float64Array(n);
  for (let i = 0; i < n; i++) projected[i] = dot(queries, i, baseline.direction);
  const ks = ksTwoSample(Float64Array.from(baseline.projections), projected);
  const centroidDistance = meanDistance(queries, baseline.centroid);
  return {
    queries: n,
    centroidDistance,
    baselineDistance: baseline.heldOutDistance,
    ks: { statistic: ks.statistic, pValue: ks.pValue },
    drifted: ks.pValue < alpha && centroidDistance - baseline.heldOutDistance >= minShift,
  };
}
