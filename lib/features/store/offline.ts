// The offline store: a feature view's rows materialised as Parquet parts in the object store, one part per month
// of event time, listed by a manifest whose digest is the snapshot's version.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ArtifactRef, ArtifactStore } from '../../artifacts/index.js';
import { readParquet } from '../../data/read-parquet.js';
import type { ManifestSource } from '../../data/snapshot.js';
import type { Table } from '../../data/table.js';
import { writeParquet } from '../../data/write-parquet.js';
import type { ParquetColumn } from '../../data/write-parquet.js';
import { canonicalJson } from '../../ml/canonical-json.js';
import { computeFeatures, entityKeys, EVENT_TIME, featureRowsOf, pointInTimeJoin } from './view.js';
import type { FeatureRows, FeatureView, ViewShape } from './view.js';

export const FEATURE_SNAPSHOT_FORMAT = 'cairn.feature-snapshot/v1';

export interface SnapshotPart {
  /** The month of event time the part holds, `YYYY-MM` (UTC). */
  partition: string;
  file: ArtifactRef;
  rows: number;
  /** First and last event time in the part (ms since the epoch). */
  minTime: number;
  maxTime: number;
}

/** A materialised feature view: what it was computed from and its parts. The manifest's digest is the version. */
export interface FeatureSnapshot {
  format: typeof FEATURE_SNAPSHOT_FORMAT;
  view: string;
  /** The view definition's digest (code and settings). */
  viewDigest: string;
  entities: string[];
  features: string[];
  /** The source as read (its content digest): the same view of the same data gives the same snapshot. */
  source: Pick<ManifestSource, 'path' | 'bytes' | 'sha256'>;
  rowCount: number;
  entityCount: number;
  minTime: number;
  maxTime: number;
  parts: SnapshotPart[];
}

const month = (ms: number) => new Date(ms).toISOString().slice(0, 7);

/**
 * Computes the view over `events` (the prepared source table) and writes it as Parquet parts by month of event
 * time, then the manifest. Every byte depends only on the view and the events, so a rerun writes the same objects
 * (content-addressed: nothing twice) and returns the same version.
 */
export async function materializeSnapshot(
  store: ArtifactStore,
  view: FeatureView,
  events: Table,
  source: FeatureSnapshot['source']
): Promise<{ manifest: ArtifactRef; snapshot: FeatureSnapshot }> {
  const ids = new Map<string, number>();
  const rows = computeFeatures(view, events, ids);
  const keys = entityKeys(ids);
  const n = rows.time.length;
  const byMonth = new Map<string, number[]>();
  for (let i = 0; i < n; i++) {
    const m = month(rows.time[i]!);
    let list = byMonth.get(m);
    if (!list) byMonth.set(m, (list = []));
    list.push(i);
  }
  const parts: SnapshotPart[] = [];
  for (const partition of [...byMonth.keys()].sort()) {
    const at = byMonth.get(partition)!;
    const columns: ParquetColumn[] = [
      ...view.entities.map((name, k): ParquetColumn => ({
        name,
        type: 'string',
        data: at.map((i) => keys[rows.entity[i]!]![k]!),
      })),
      { name: EVENT_TIME, type: 'timestamp', data: Float64Array.from(at, (i) => rows.time[i]!) },
      ...view.features.map((f): ParquetColumn => ({
        name: f.name,
        type: 'double',
        data: Float64Array.from(at, (i) => rows.values[f.name]![i]!),
      })),
    ];
    let minTime = Infinity;
    let maxTime = -Infinity;
    for (const i of at) {
      minTime = Math.min(minTime, rows.time[i]!);
      maxTime = Math.max(maxTime, rows.time[i]!);
    }
    const file = await store.putBytes(writeParquet(columns), { mediaType: 'application/vnd.apache.parquet' });
    parts.push({ partition, file, rows: at.length, minTime, maxTime });
  }
  const snapshot: FeatureSnapshot = {
    format: FEATURE_SNAPSHOT_FORMAT,
    view: view.name,
    viewDigest: view.digest,
    entities: view.entities,
    features: view.features.map((f) => f.name),
    source: { path: source.path, bytes: source.bytes, sha256: source.sha256 },
    rowCount: n,
    entityCount: ids.size,
    minTime: n ? parts[0]!.minTime : NaN,
    maxTime: n ? parts.at(-1)!.maxTime : NaN,
    parts,
  };
  const manifest = await store.putBytes(canonicalJson(snapshot), {
    mediaType: 'application/vnd.cairn.feature-snapshot+json',
  });
  return { manifest, snapshot };
}

/**
 * The snapshot's rows, read back from its parts: those whose last event is after `after` (ms) only, when given
 * (an incremental materialisation reads just the months it has not seen). Entity ids come from `ids`.
 */
export async function readSnapshot(
  store: Pick<ArtifactStore, 'getFile'>,
  view: ViewShape,
  snapshot: FeatureSnapshot,
  ids = new Map<string, number>(),
  after = -Infinity,
  progress?: (part: SnapshotPart) => void
): Promise<FeatureRows> {
  const dir = await mkdtemp(join(tmpdir(), 'cairn-features-'));
  try {
    const tables: Table[] = [];
    for (const part of snapshot.parts) {
      if (part.maxTime <= after) continue;
      const path = join(dir, `${part.partition}.parquet`);
      await store.getFile(part.file.digest, path);
      tables.push(await readParquet(path));
      await rm(path);
      progress?.(part);
    }
    return featureRowsOf(view, concatTables(view, tables), ids);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Parts of one snapshot (same columns) as one table: strings re-coded into one dictionary. */
function concatTables(view: ViewShape, tables: Table[]): Table {
  const n = tables.reduce((sum, t) => sum + t.rowCount, 0);
  const out: Table = { rowCount: n, names: [], columns: {} };
  for (const name of view.entities) {
    const dictionary: string[] = [];
    const index = new Map<string, number>();
    const codes = new Int32Array(n);
    let at = 0;
    for (const t of tables) {
      const c = t.columns[name];
      if (c?.type !== 'string') throw new TypeError(`snapshot part has no string column ${name}`);
      const remap = c.dictionary.map((value) => {
        let code = index.get(value);
        if (code === undefined) index.set(value, (code = dictionary.push(value) - 1));
        return code;
      });
      for (let i = 0; i < t.rowCount; i++) codes[at++] = c.codes[i]! < 0 ? -1 : remap[c.codes[i]!]!;
    }
    out.names.push(name);
    out.columns[name] = { type: 'string', codes, dictionary };
  }
  for (const name of [EVENT_TIME, ...view.features.map((f) => f.name)]) {
    const values = new Float64Array(n);
    const missing = new Uint8Array(n);
    let at = 0;
    for (const t of tables) {
      const c = t.columns[name];
      if (c?.type !== 'number' && c?.type !== 'timestamp') throw new TypeError(`snapshot part has no column ${name}`);
      values.set(c.values, at);
      missing.set(c.missing, at);
      at += t.rowCount;
    }
    out.names.push(name);
    out.columns[name] = { type: name === EVENT_TIME ? 'timestamp' : 'number', values, missing };
  }
  return out;
}

/**
 * Joins each view's snapshot onto `table` as of each row's `at` column (see `pointInTimeJoin`): a new table with
 * the views' features as number columns after the table's own.
 */
export async function joinSnapshots(
  store: Pick<ArtifactStore, 'getFile'>,
  table: Table,
  joins: { view: FeatureView; at: string; snapshot: FeatureSnapshot }[]
): Promise<Table> {
  const out: Table = { rowCount: table.rowCount, names: [...table.names], columns: { ...table.columns } };
  for (const { view, at, snapshot } of joins) {
    const ids = new Map<string, number>();
    const rows = await readSnapshot(store, view, snapshot, ids);
    const { values } = pointInTimeJoin(view, rows, table, at, ids);
    for (const [name, column] of Object.entries(values)) {
      if (!out.names.includes(name)) out.names.push(name);
      out.columns[name] = { type: 'number', values: column, missing: new Uint8Array(table.rowCount) };
    }
  }
  return out;
}

/** The shape of the view a snapshot was computed by, from its manifest. */
export function snapshotShape(snapshot: FeatureSnapshot): ViewShape {
  return { name: snapshot.view, entities: snapshot.entities, features: snapshot.features.map((name) => ({ name })) };
}
