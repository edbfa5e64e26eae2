// Monitoring of vector indexes in service: the online server logs each search (outcome, latency, a sample of query
// embeddings); a check over a window gives the empty-result rate, latency p99 and the query embeddings' drift from
// the corpus the served version was built from, each against a threshold.
import type { ArtifactStore } from '../artifacts/index.js';
import type { Queryable } from '../db/pool.js';
import { embeddingDrift } from './drift.js';
import type { EmbeddingBaseline, EmbeddingDrift } from './drift.js';
import { resolveVectorIndex } from './registry.js';
import type { VectorIndexManifest } from './vector-index.js';
import { vectorsOf } from './vector-index.js';

export interface SearchRecord {
  name: string;
  version: number;
  outcome: 'found' | 'empty';
  seconds: number;
  embedding?: Float32Array;
}

/** The statement that writes a batch of searches (BatchedInsert). */
export const insertSearches = (rows: SearchRecord[]) => ({
  text: `INSERT INTO cairn.index_searches (name, version, outcome, seconds, embedding)
         SELECT * FROM unnest($1::text[], $2::int[], $3::text[], $4::float8[], $5::bytea[])`,
  values: [
    rows.map((r) => r.name),
    rows.map((r) => r.version),
    rows.map((r) => r.outcome),
    rows.map((r) => r.seconds),
    rows.map((r) =>
      r.embedding ? Buffer.from(r.embedding.buffer, r.embedding.byteOffset, r.embedding.byteLength) : null
    ),
  ],
});

/** Thresholds of an index check. */
export interface IndexPolicy {
  /** Fewer searches than this in the window: the check reports no traffic. @default 20 */
  minSearches: number;
  /** @default 0.2 */
  maxEmptyRate: number;
  /** @default 250 */
  maxP99Ms: number;
  /** The KS test's level on the projections. @default 0.01 */
  alpha: number;
  /** How much further from the corpus centroid the queries must sit than the held-out queries did. @default 0.05 */
  minShift: number;
}

export const DEFAULT_INDEX_POLICY: IndexPolicy = {
  minSearches: 20,
  maxEmptyRate: 0.2,
  maxP99Ms: 250,
  alpha: 0.01,
  minShift: 0.05,
};

export interface IndexReport {
  name: string;
  version: number | null;
  window: { from: string; to: string };
  searches: number;
  emptyRate: number | null;
  p99Ms: number | null;
  drift: EmbeddingDrift | null;
  status: 'ok' | 'alert' | 'no-traffic';
  breaches: string[];
  policy: IndexPolicy;
}

/** A check of the searches of index `name` served by `version` in [from, to). */
export async function checkIndex(
  db: Queryable,
  store: ArtifactStore,
  name: string,
  version: number,
  window: { from: string; to: string },
  policy: IndexPolicy = DEFAULT_INDEX_POLICY
): Promise<IndexReport> {
  const { rows } = await db.query<{ outcome: string; seconds: number; embedding: Buffer | null }>(
    `SELECT outcome, seconds, embedding FROM cairn.index_searches
     WHERE name = $1 AND version = $2 AND at >= $3 AND at < $4`,
    [name, version, window.from, window.to]
  );
  const base = { name, version, window, policy };
  if (rows.length < policy.minSearches)
    return {
      ...base,
      searches: rows.length,
      emptyRate: null,
      p99Ms: null,
      drift: null,
      status: 'no-traffic',
      breaches: [],
    };
  const emptyRate = rows.filter((r) => r.outcome === 'empty').length / rows.length;
  const seconds = rows.map((r) => r.seconds).sort((a, b) => a - b);
  const p99Ms = seconds[Math.min(seconds.length - 1, Math.floor(0.99 * seconds.length))]! * 1000;
  const manifest = await store.getJson<VectorIndexManifest>(
    (await resolveVectorIndex(db, `${name}@${version}`)).manifest
  );
  const baseline = await store.getJson<EmbeddingBaseline>(manifest.baseline.digest);
  const sampled = rows.filter((r) => r.embedding !== null);
  const drift =
    sampled.length >= policy.minSearches
      ? embeddingDrift(
          baseline,
          vectorsOf(Buffer.concat(sampled.map((r) => r.embedding!)), manifest.dimensions, 'query embeddings'),
          policy
        )
      : null;
  const breaches = [
    ...(drift?.drifted
      ? [
          `query embeddings drifted from the corpus: mean cosine distance to its centroid ${drift.centroidDistance.toFixed(3)} (held-out queries: ${drift.baselineDistance.toFixed(3)}), KS p ${drift.ks.pValue.toExponential(2)}`,
        ]
      : []),
    ...(emptyRate > policy.maxEmptyRate
      ? [`empty results ${(emptyRate * 100).toFixed(1)}% > ${(policy.maxEmptyRate * 100).toFixed(0)}%`]
      : []),
    ...(p99Ms > policy.maxP99Ms ? [`search p99 ${p99Ms.toFixed(1)} ms > ${policy.maxP99Ms} ms`] : []),
  ];
  return {
    ...base,
    searches: rows.length,
    emptyRate,
    p99Ms,
    drift,
    status: breaches.length ? 'alert' : 'ok',
    breaches,
  };
}
