import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { z } from 'zod';
import type { ArtifactRef } from '../artifacts/index.js';
import { VectorIndexError } from './registry.js';

/** HNSW parameters (usearch), cosine distance over float32 vectors. */
export const indexParams = z.strictObject({
  connectivity: z.number().int().min(2).max(128).default(16),
  expansionAdd: z.number().int().min(1).max(4096).default(128),
  expansionSearch: z.number().int().min(1).max(4096).default(64),
});
export type IndexParams = z.output<typeof indexParams>;

/** What an index version is, stored as canonical JSON: its digest is the version's identity. */
export interface VectorIndexManifest {
  kind: 'cairn.vector-index/v1';
  index: ArtifactRef;
  library: { name: 'usearch'; version: string };
  params: IndexParams;
  dimensions: number;
  size: number;
  embeddingModel: { name: string; version: number; identity: string; manifest: ArtifactRef };
  /** The corpus snapshot: its table, the text and id columns, and its embeddings. */
  corpus: { table: ArtifactRef; text: string; id: string; embeddings: ArtifactRef };
  gate: IndexGate;
  /** For drift: the corpus's centroid, and its vectors' projections on a seeded direction (sorted, a sample). */
  baseline: ArtifactRef;
}

export interface IndexGate {
  k: number;
  queries: number;
  recall: number;
  minRecall: number;
  p50Ms: number;
  p99Ms: number;
  maxP99Ms: number;
  passed: boolean;
}

const THREAD = new URL('./index-thread.mjs', import.meta.url);

let usearchVersion: string | undefined;
/** The installed usearch's version, recorded in every manifest (read once, when an index is first registered). */
export function installedUsearch(): string {
  if (usearchVersion === undefined) {
    // usearch's exports do not include its package.json: walk up from its entry point.
    let dir = dirname(createRequire(import.meta.url).resolve('usearch'));
    while (!existsSync(join(dir, 'package.json')) || !dir.endsWith('usearch')) dir = dirname(dir);
    usearchVersion = (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version: string }).version;
  }
  return usearchVersion;
}

function inThread<T>(data: Record<string, unknown>): Promise<T> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(THREAD, { workerData: data });
    worker.once('message', (m: { ok: boolean; result?: T; message?: string }) =>
      m.ok ? resolve(m.result!) : reject(new VectorIndexError(`usearch: ${m.message}`))
    );
    worker.once('error', reject);
    worker.once('exit', (code) => code !== 0 && reject(new Error(`the index thread exited with code ${code}`)));
  });
}

/** Builds the index of `vectors` (row-major, `dimensions` wide; key i is row i) into the file `path`. */
export function buildIndexFile(
  vectors: Float32Array,
  dimensions: number,
  params: IndexParams,
  path: string
): Promise<{ size: number }> {
  return inThread({ op: 'build', vectors, dimensions, params, path });
}

/** recall@k against exact search, and one-query latency, of the index in `path` on held-out `queries`. */
export function evaluateIndexFile(
  path: string,
  vectors: Float32Array,
  queries: Float32Array,
  dimensions: number,
  params: IndexParams,
  k: number
): Promise<{ recall: number; p50Ms: number; p99Ms: number }> {
  return inThread({ op: 'evaluate', vectors, queries, dimensions, params, path, k });
}

/** Float32 little-endian bytes as a Float32Array (copied: a Buffer's offset may not be 4-aligned). */
export function vectorsOf(bytes: Buffer, dimensions: number, what: string): Float32Array {
  if (bytes.length % (4 * dimensions) !== 0)
    throw new VectorIndexError(`${what}: ${bytes.length} bytes are not rows of ${dimensions} float32 values`);
  const out = new Float32Array(bytes.length / 4);
  Buffer.from(out.buffer).set(bytes);
  return out;
}

export const bytesOf = (vectors: Float32Array) => Buffer.from(vectors.buffer, vectors.byteOffset, vectors.byteLength);

/** A loaded index for search: usearch in this thread (one query takes well under a millisecond). */
export class IndexSearcher {
  private constructor(private readonly index: UsearchIndex) {}

  static async load(bytes: Buffer, dimensions: number, params: IndexParams): Promise<IndexSearcher> {
    const usearch = (await import('usearch')).default;
    const index = new usearch.Index({
      dimensions,
      metric: usearch.MetricKind.Cos,
      quantization: usearch.ScalarKind.F32,
      connectivity: params.connectivity,
      expansion_add: params.expansionAdd,
      expansion_search: params.expansionSearch,
      multi: false,
    });
    const dir = await mkdtemp(join(tmpdir(), 'cairn-index-'));
    try {
      await writeFile(join(dir, 'index.usearch'), bytes);
      index.load(join(dir, 'index.usearch'));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    return new IndexSearcher(index as unknown as UsearchIndex);
  }

  /** The `k` nearest rows of `query`: row numbers and cosine distances, nearest first. */
  search(query: Float32Array, k: number): { row: number; distance: number }[] {
    const found = this.index.search(query, k, 1);
    return Array.from(found.keys, (key, i) => ({ row: Number(key), distance: found.distances[i]! }));
  }
}

interface UsearchIndex {
  search(v: Float32Array, k: number, threads: number): { keys: BigUint64Array; distances: Float32Array };
}
