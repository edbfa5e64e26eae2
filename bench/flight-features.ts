// The flight-delays training and held-out matrices, computed as the transform activity computes them (time split,
// rows without a target dropped, features fitted on the training rows), for benchmarks that train outside the
// pipeline; and writers for the files the Python peers read.
import { closeSync, openSync, writeSync } from 'node:fs';
import { readTable } from '../lib/data/index.js';
import { buildMatrix, encodeTarget, fitFeatures } from '../lib/features/matrix.js';
import { splitRows } from '../lib/features/split.js';
import type { GbdtParams } from '../lib/ml/index.js';
import type { FeatureMatrix } from '../lib/ml/types.js';
import { resolveRunConfig, resolveSourcePath } from '../lib/pipeline/run-config.js';
import { resolvePipeline } from '../pipelines/index.js';

export interface FlightMatrices {
  train: { x: FeatureMatrix; y: Float64Array };
  test: { x: FeatureMatrix; y: Float64Array };
  /** The trainer parameters of the pipeline's config (rounds, depth, learning rate, bins, min data in leaf, lambda). */
  params: GbdtParams;
  config: Record<string, unknown>;
}

function withTarget(rows: Int32Array, y: Float64Array): { rows: Int32Array; y: Float64Array } {
  const keep: number[] = [];
  for (let i = 0; i < y.length; i++) if (!Number.isNaN(y[i]!)) keep.push(i);
  if (keep.length === y.length) return { rows, y };
  return { rows: Int32Array.from(keep, (i) => rows[i]!), y: Float64Array.from(keep, (i) => y[i]!) };
}

/** flight-delays with `rows` rows (its config otherwise as in config.yaml), transformed like the pipeline does. */
export async function flightMatrices(rows: number): Promise<FlightMatrices> {
  const pipeline = resolvePipeline('flight-delays');
  const { config } = resolveRunConfig(pipeline, { rows });
  const c = config as never;
  const source = pipeline.source(c);
  const table = await readTable(resolveSourcePath(source.path), { ...(source.limit ? { limit: source.limit } : {}) });
  const split = splitRows(table, pipeline.split(c));
  const column = pipeline.target.column;
  const train = withTarget(split.train, encodeTarget(table, column, split.train));
  const test = withTarget(split.test, encodeTarget(table, column, split.test));
  const defs = pipeline.features(c);
  const specs = fitFeatures(defs, table, train.rows);
  const trainer = pipeline.trainer(c);
  if (trainer.kind !== 'gbdt') throw new Error('flight-delays is expected to train gradient-boosted trees');
  const { kind: _kind, ...params } = trainer;
  return {
    train: { x: buildMatrix(defs, specs, table, train.rows), y: train.y },
    test: { x: buildMatrix(defs, specs, table, test.rows), y: test.y },
    params: { ...params, task: pipeline.target.task },
    config,
  };
}

function npyHeader(shape: number[]): Buffer {
  const dims = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  const dict = `{'descr': '<f8', 'fortran_order': False, 'shape': ${dims}, }`;
  // Magic, version 1.0, a little-endian uint16 length, then the dict padded so the data starts 64-byte aligned.
  const unpadded = 10 + dict.length + 1;
  const header = `${dict}${' '.repeat((64 - (unpadded % 64)) % 64)}\n`;
  const prefix = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, header.length & 0xff, header.length >> 8]);
  return Buffer.concat([prefix, Buffer.from(header, 'latin1')]);
}

/** A feature matrix as a row-major (C order) float64 .npy file, the layout NumPy and the trainers read without a copy. */
export function writeMatrixNpy(path: string, x: FeatureMatrix): void {
  const width = x.columns.length;
  const fd = openSync(path, 'w');
  try {
    writeSync(fd, npyHeader([x.rows, width]));
    const chunkRows = 65_536;
    const chunk = new Float64Array(chunkRows * width);
    for (let start = 0; start < x.rows; start += chunkRows) {
      const end = Math.min(x.rows, start + chunkRows);
      for (let r = start; r < end; r++)
        for (let f = 0; f < width; f++) chunk[(r - start) * width + f] = x.columns[f]![r]!;
      writeSync(fd, new Uint8Array(chunk.buffer, 0, (end - start) * width * 8));
    }
  } finally {
    closeSync(fd);
  }
}

export function writeVectorNpy(path: string, y: Float64Array): void {
  const fd = openSync(path, 'w');
  try {
    writeSync(fd, npyHeader([y.length]));
    writeSync(fd, new Uint8Array(y.buffer, y.byteOffset, y.byteLength));
  } finally {
    closeSync(fd);
  }
}
