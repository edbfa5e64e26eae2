import { setImmediate as nextTurn } from 'node:timers/promises';
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { ArtifactRef } from '../lib/artifacts/index.js';
import { SnapshotFormatError } from '../lib/data/snapshot.js';
import type { Table } from '../lib/data/table.js';
import { writeParquet } from '../lib/data/write-parquet.js';
import type { ParquetColumn, ParquetColumnType } from '../lib/data/write-parquet.js';
import { FeatureStateError } from '../lib/features/matrix.js';
import { canonicalJson } from '../lib/ml/canonical-json.js';
import { ModelRefError, parseModelRef } from '../lib/registry/model-ref.js';
import type { ModelRef } from '../lib/registry/model-ref.js';
import { resolveVersion } from '../lib/registry/models.js';
import { UntrustedPackageError } from '../lib/signing/packages.js';
import { scorerFor } from '../lib/scoring/scorer.js';
import type { Scorer } from '../lib/scoring/scorer.js';
import { loadDataset } from './dataset.js';
import type { ActivityDeps } from './deps.js';
import { execution } from './tracked-stage.js';
import { failFast } from './failures.js';
import type { ModelPackage } from './package.js';

export const BATCH_OUTPUT_FORMAT = 'cairn.batch-output/v1';

/**
 * Rows scored between two turns of the event loop (about 50 ms for the flight-delays model): heartbeats, cancellation
 * and the worker's other tasks keep flowing however large a chunk is. Predictions do not depend on the slicing.
 */
const SLICE_ROWS = 16_384;
/** The most parts an output may have: heartbeats and payloads carry the list of parts. */
export const MAX_PARTS = 2_000;
/** At most one progress signal per this many milliseconds (and one for the last chunk). */
const PROGRESS_EVERY_MS = 1_000;

/** A concrete model version: an alias is resolved once, so moving it mid-run does not change the model. */
export interface ResolvedModel {
  name: string;
  version: number;
  /** The model package's digest. */
  digest: string;
  pipeline: string;
}

export interface OutputColumn {
  name: string;
  type: ParquetColumnType;
}

/** One Parquet file of the output: the predictions of one chunk of consecutive input rows. */
export interface BatchPart {
  digest: string;
  bytes: number;
  rows: number;
}

/** What `scoreBatch` heartbeats: the parts stored so far, in order; a retry resumes at `nextChunk`. */
export interface BatchHeartbeat {
  nextChunk: number;
  chunks: number;
  parts: BatchPart[];
}

/** Sent to the workflow as a signal after chunks are stored (at most once a second). */
export interface BatchProgress {
  done: number;
  total: number;
}

export interface BatchOutputOptions {
  compression: 'snappy' | 'none';
}

export interface ScoreBatchInput {
  model: ResolvedModel;
  /** The dataset snapshot's digest. */
  input: string;
  chunkRows: number;
  output: BatchOutputOptions;
  /** Signal of the calling workflow that receives `BatchProgress`; none is sent when absent. */
  progressSignal?: string;
}

export interface ScoreBatchResult {
  columns: OutputColumn[];
  parts: BatchPart[];
  rows: number;
  /** The chunk this attempt started at: 0, or where the previous attempt's last heartbeat left off. */
  resumedFromChunk: number;
  /** Chunks scored by this attempt. */
  chunksScored: number;
}

/** How a batch is split: its rows, chunks and output columns (`planBatch`, before the chunks fan out). */
export interface BatchPlan {
  rows: number;
  chunks: number;
  columns: OutputColumn[];
}

/** One chunk of a fanned-out batch: chunk `chunk` of `ScoreBatchInput`'s chunking. */
export type ScoreChunkInput = Omit<ScoreBatchInput, 'progressSignal'> & { chunk: number };

export interface FinishBatchInput {
  model: ResolvedModel;
  input: string;
  chunkRows: number;
  output: BatchOutputOptions;
  scored: Pick<ScoreBatchResult, 'columns' | 'parts' | 'rows'>;
}

/** The output's manifest, stored as canonical JSON; its digest is the output digest. */
export interface BatchOutputManifest {
  format: typeof BATCH_OUTPUT_FORMAT;
  model: { name: string; version: number; package: string };
  input: string;
  rows: number;
  chunkRows: number;
  encoding: { format: 'parquet'; compression: BatchOutputOptions['compression'] };
  columns: OutputColumn[];
  parts: BatchPart[];
}

export interface BatchOutput {
  /** Digest of the output manifest. */
  digest: string;
  bytes: number;
  uri: string;
  parts: number;
  rows: number;
}

export function createBatchInferenceActivities(deps: ActivityDeps) {
  const { db, store, logger } = deps;
  // The last model a worker scored with: a fanned-out batch sends it one chunk after another.
  let lastScorer: { digest: string; scorer: Promise<Scorer> } | undefined;
  return {
    /**
     * Resolves `<model>@<version|alias>` to a registered version and checks that the input snapshot is in the
     * store. An unknown model, version, alias or dataset fails at once, non-retryably.
     */
    async resolveBatchInference(args: { model: string; input: string }): Promise<ResolvedModel> {
      let ref: ModelRef;
      try {
        ref = parseModelRef(args.model);
      } catch (err) {
        if (err instanceof ModelRefError) throw ApplicationFailure.nonRetryable(err.message, 'InvalidModelRef');
        throw err;
      }
      const version = await resolveVersion(db, ref).catch((err: unknown) => {
        if (err instanceof ModelRefError)
          throw ApplicationFailure.nonRetryable(err.message, 'UnknownModel', { model: args.model });
        throw err;
      });
      try {
        deps.trust.check(version);
      } catch (err) {
        if (err instanceof UntrustedPackageError) throw ApplicationFailure.nonRetryable(err.message, err.type);
        throw err;
      }
      if (!(await store.stat(args.input))) {
        throw ApplicationFailure.nonRetryable(
          `unknown dataset ${args.input}: no snapshot with that digest in the store`,
          'UnknownDataset',
          { input: args.input }
        );
      }
      const { rows } = await db.query<{ pipeline: string }>('SELECT pipeline FROM cairn.models WHERE name = $1', [
        version.model,
      ]);
      return {
        name: version.model,
        version: version.version,
        digest: version.packageDigest,
        pipeline: rows[0]!.pipeline,
      };
    },

    /**
     * Scores the snapshot chunk by chunk with the model package's scorer; each chunk's predictions become one
     * Parquet part in the store. Heartbeats the parts stored so far; a retry after a crash skips the chunks its
     * heartbeat names (those still in the store) and, chunking and encoding being deterministic, stores the same
     * parts an uninterrupted run would.
     */
    async scoreBatch(args: ScoreBatchInput): Promise<ScoreBatchResult> {
      return failFast(() => score(args));
    },

    /**
     * Checks a batch's input against the model and says how it splits into chunks: done once, on a heavy worker,
     * before the chunks fan out (that worker then holds the snapshot for the chunks it scores).
     */
    async planBatch(args: Omit<ScoreBatchInput, 'progressSignal'>): Promise<BatchPlan> {
      return failFast(async () => {
        const { scorer, table, total } = await prepare(args);
        return { rows: table.rowCount, chunks: total, columns: outputColumns(scorer) };
      });
    },

    /**
     * Scores one chunk into its Parquet part. Parts are content-addressed and their bytes depend only on the model,
     * the input and the chunking, so a chunk scored twice (a retry on another worker after a crash) stores the same
     * part, and the output manifest is the sequential run's.
     */
    async scoreChunk(args: ScoreChunkInput): Promise<BatchPart> {
      return failFast(async () => {
        const ctx = Context.current();
        const { scorer, table, total, rowsOf } = await prepare(args);
        if (!(args.chunk >= 0 && args.chunk < total))
          throw ApplicationFailure.nonRetryable(`chunk ${args.chunk} of ${total}`, 'InvalidWorkflowInput');
        return scoreChunk(scorer, table, args, args.chunk, rowsOf(args.chunk), () => {
          ctx.cancellationSignal.throwIfAborted();
          ctx.heartbeat({ chunk: args.chunk });
        });
      });
    },

    /**
     * Writes the output manifest (canonical JSON: the model, the input, the columns and the parts in order) and
     * records the batch's lineage, once per workflow.
     */
    async finishBatchInference(args: FinishBatchInput): Promise<BatchOutput> {
      const { model, scored } = args;
      const manifest: BatchOutputManifest = {
        format: BATCH_OUTPUT_FORMAT,
        model: { name: model.name, version: model.version, package: model.digest },
        input: args.input,
        rows: scored.rows,
        chunkRows: args.chunkRows,
        encoding: { format: 'parquet', compression: args.output.compression },
        columns: scored.columns.map(({ name, type }) => ({ name, type })),
        parts: scored.parts.map(({ digest, bytes, rows }) => ({ digest, bytes, rows })),
      };
      const ref = await store.putBytes(canonicalJson(manifest), { mediaType: 'application/json' });
      // One record per execution (`<workflow id>/<run id>`): a reused workflow id gets its own.
      const { workflowId, executionId } = execution();
      await db.query(
        `INSERT INTO cairn.batch_inferences (id, model, version, input_digest, output_digest, rows)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING`,
        [`${workflowId}/${executionId}`, model.name, model.version, args.input, ref.digest, scored.rows]
      );
      return { digest: ref.digest, bytes: ref.bytes, uri: ref.uri, parts: manifest.parts.length, rows: scored.rows };
    },
  };

  /** The model's scorer and the input snapshot (both kept for the next chunk), checked against each other. */
  async function prepare(args: Pick<ScoreBatchInput, 'model' | 'input' | 'chunkRows'>) {
    if (lastScorer?.digest !== args.model.digest) {
      const scorer = store.getJson<ModelPackage>(args.model.digest).then(scorerFor);
      lastScorer = { digest: args.model.digest, scorer };
      scorer.catch(() => (lastScorer = undefined));
    }
    let scorer: Scorer;
    try {
      scorer = await lastScorer!.scorer;
    } catch (err) {
      if (err instanceof FeatureStateError) throw ApplicationFailure.nonRetryable(err.message, 'FeatureStateError');
      throw err;
    }
    const table = await loadDataset(store, args.input, args.input).catch((err: unknown) => {
      if (err instanceof SnapshotFormatError)
        throw ApplicationFailure.nonRetryable(`${args.input} is not a dataset snapshot: ${err.message}`, err.name);
      throw err;
    });
    checkInputs(table, scorer, args);
    const { chunkRows } = args;
    const total = Math.ceil(table.rowCount / chunkRows);
    if (total > MAX_PARTS) {
      throw ApplicationFailure.nonRetryable(
        `${table.rowCount} rows in chunks of ${chunkRows} make ${total} parts, more than ${MAX_PARTS}: raise chunkRows`,
        'InvalidWorkflowInput'
      );
    }
    const rowsOf = (chunk: number) => Math.min(chunkRows, table.rowCount - chunk * chunkRows);
    return { scorer, table, total, rowsOf };
  }

  /** Scores chunk `chunk` (rows from `chunk * chunkRows`) and stores its Parquet part. */
  async function scoreChunk(
    scorer: Scorer,
    table: Table,
    args: Pick<ScoreBatchInput, 'chunkRows' | 'output'>,
    chunk: number,
    rows: number,
    afterSlice: () => void
  ): Promise<BatchPart> {
    const start = chunk * args.chunkRows;
    const raw = await scoreRange(scorer, table, start, start + rows, afterSlice);
    const bytes = writeParquet(predictionColumns(scorer, raw, start, rows), { compression: args.output.compression });
    const ref = await store.putBytes(bytes, { mediaType: 'application/vnd.apache.parquet' });
    return { digest: ref.digest, bytes: ref.bytes, rows };
  }

  async function score(args: ScoreBatchInput): Promise<ScoreBatchResult> {
    const ctx = Context.current();
    const { scorer, table, total, rowsOf } = await prepare(args);
    const parts = await resumedParts(ctx.info.heartbeatDetails, total, rowsOf);
    const resumedFromChunk = parts.length;
    if (resumedFromChunk > 0) ctx.log.info('resuming batch scoring', { nextChunk: resumedFromChunk, chunks: total });

    const beat = (): BatchHeartbeat => ({ nextChunk: parts.length, chunks: total, parts: [...parts] });
    ctx.heartbeat(beat());
    const progress = progressReporter(args.progressSignal, total);
    await progress(parts.length, true);

    const columns = outputColumns(scorer);
    for (let chunk = resumedFromChunk; chunk < total; chunk++) {
      parts.push(
        await scoreChunk(scorer, table, args, chunk, rowsOf(chunk), () => {
          ctx.cancellationSignal.throwIfAborted();
          ctx.heartbeat(beat());
        })
      );
      ctx.heartbeat(beat());
      await progress(parts.length, parts.length === total);
    }
    const chunksScored = total - resumedFromChunk;
    logger.info(
      { model: `${args.model.name}@${args.model.version}`, input: args.input, rows: table.rowCount, chunksScored },
      'batch scored'
    );
    return { columns, parts, rows: table.rowCount, resumedFromChunk, chunksScored };
  }

  /**
   * The parts a previous attempt stored, from its last heartbeat, up to the first that does not belong to this
   * chunking or is no longer in the store: everything from there on is scored again.
   */
  async function resumedParts(
    details: unknown,
    total: number,
    rowsOf: (chunk: number) => number
  ): Promise<BatchPart[]> {
    const previous = details as Partial<BatchHeartbeat> | undefined;
    if (!previous || previous.chunks !== total || !Array.isArray(previous.parts)) return [];
    const parts: BatchPart[] = [];
    for (const [chunk, part] of previous.parts.slice(0, previous.nextChunk).entries()) {
      if (part?.rows !== rowsOf(chunk) || typeof part.digest !== 'string') break;
      const stored: ArtifactRef | undefined = await store.stat(part.digest);
      if (!stored) break;
      parts.push({ digest: part.digest, bytes: stored.bytes, rows: part.rows });
    }
    return parts;
  }
}

/** Fails once, naming them, when the snapshot lacks contract columns the model reads or holds them as another type. */
function checkInputs(table: Table, scorer: Scorer, args: Pick<ScoreBatchInput, 'input' | 'model'>): void {
  const missing = scorer.inputs.filter((r) => !table.columns[r.column]).map((r) => r.column);
  const mistyped = scorer.inputs
    .filter((r) => table.columns[r.column] && table.columns[r.column]!.type !== r.type)
    .map((r) => `${r.column} (${table.columns[r.column]!.type}, expected ${r.type})`);
  if (!missing.length && !mistyped.length) return;
  const problems = [
    ...(missing.length ? [`lacks the contract column${missing.length > 1 ? 's' : ''} ${missing.join(', ')}`] : []),
    ...(mistyped.length ? [`has the wrong type in ${mistyped.join(', ')}`] : []),
  ];
  throw ApplicationFailure.nonRetryable(
    `dataset ${args.input} ${problems.join(' and ')} that ${args.model.name}@${args.model.version} reads ` +
      `(found: ${table.names.join(', ')})`,
    'DataContractViolation',
    { missing, mistyped }
  );
}

/** The raw outputs of rows [start, end), scored a slice at a time with a turn of the event loop after each. */
async function scoreRange(
  scorer: Scorer,
  table: Table,
  start: number,
  end: number,
  afterSlice: () => void
): Promise<Float64Array> {
  const width = outputsPerRow(scorer);
  const raw = new Float64Array((end - start) * width);
  for (let from = start; from < end; from += SLICE_ROWS) {
    const to = Math.min(end, from + SLICE_ROWS);
    const rows = new Int32Array(to - from);
    for (let i = 0; i < rows.length; i++) rows[i] = from + i;
    raw.set(await scorer.score(table, rows), (from - start) * width);
    await nextTurn();
    afterSlice();
  }
  return raw;
}

function outputsPerRow(scorer: Scorer): number {
  return scorer.pkg.task === 'multiclass' ? (scorer.pkg.classes ?? []).length : 1;
}

/**
 * The output columns, as the online scorer answers: `row` (the input row index), then `value` (regression),
 * `label` and `probability` = P(second class) (binary), or `label` and `probability_<class>` per class (multiclass).
 */
function outputColumns(scorer: Scorer): OutputColumn[] {
  const { task, classes = [] } = scorer.pkg;
  const row: OutputColumn = { name: 'row', type: 'int32' };
  if (task === 'regression') return [row, { name: 'value', type: 'double' }];
  if (task === 'binary') return [row, { name: 'label', type: 'string' }, { name: 'probability', type: 'double' }];
  return [
    row,
    { name: 'label', type: 'string' },
    ...classes.map((c): OutputColumn => ({ name: `probability_${c}`, type: 'double' })),
  ];
}

function predictionColumns(scorer: Scorer, raw: Float64Array, start: number, rows: number): ParquetColumn[] {
  const index = new Int32Array(rows);
  for (let i = 0; i < rows; i++) index[i] = start + i;
  const row: ParquetColumn = { name: 'row', type: 'int32', data: index };
  const { task, classes = [] } = scorer.pkg;
  if (task === 'regression') return [row, { name: 'value', type: 'double', data: raw }];
  // Labels come from the online scorer's own code, so batch and online answers agree.
  const labels = Array.from({ length: rows }, (_, i) => (scorer.prediction(raw, i) as { label: string }).label);
  const label: ParquetColumn = { name: 'label', type: 'string', data: labels };
  if (task === 'binary') return [row, label, { name: 'probability', type: 'double', data: raw }];
  const k = classes.length;
  return [
    row,
    label,
    ...classes.map((c, j): ParquetColumn => {
      const p = new Float64Array(rows);
      for (let i = 0; i < rows; i++) p[i] = raw[i * k + j]!;
      return { name: `probability_${c}`, type: 'double', data: p };
    }),
  ];
}

/** Signals chunk progress to the calling workflow, at most once a second; a failed signal is only logged. */
function progressReporter(signal: string | undefined, total: number) {
  let last = -Infinity;
  return async (done: number, force: boolean) => {
    const ctx = Context.current();
    const workflowId = ctx.info.workflowExecution?.workflowId;
    if (!signal || !workflowId || (!force && performance.now() - last < PROGRESS_EVERY_MS)) return;
    last = performance.now();
    try {
      const handle = ctx.client.workflow.getHandle(workflowId);
      await handle.signal<[BatchProgress]>(signal, { done, total });
    } catch (err) {
      ctx.log.warn('progress signal failed', { error: String(err) });
    }
  };
}
