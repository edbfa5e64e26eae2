import { Context } from '@temporalio/activity';
import type { ArtifactRef } from '../lib/artifacts/index.js';
import { buildManifest, decodeTable, encodeTable } from '../lib/data/index.js';
import type { DatasetManifest, Table } from '../lib/data/index.js';
import type { PreviousSnapshot } from '../lib/data/sources/index.js';
import { listDatasets } from '../lib/tracking/queries.js';
import { loadDataset } from './dataset.js';
import type { TableSource } from '../lib/pipeline/tabular-recipe.js';
import { canonicalJson } from '../lib/ml/canonical-json.js';
import { setRunDataset } from '../lib/tracking/runs.js';
import { resolvePipeline } from '../pipelines/index.js';
import type { ActivityDeps } from './deps.js';
import { failFast } from './failures.js';
import type { Cached, DatasetRef, RunPlan } from '../lib/pipeline/stage-types.js';
import { trackedStage } from './tracked-stage.js';

export function createIngestActivities(deps: ActivityDeps) {
  const { db, store } = deps;
  return {
    /**
     * Reads the pipeline's source into a snapshot: the canonical encoding of the data (its digest is the dataset
     * version, whatever the file is called) and a manifest with schema and statistics, both in the store. Given a
     * recorded `snapshot` (reproduction), uses it instead, after checking that it is still in the store intact.
     */
    async ingest(plan: RunPlan, snapshot?: DatasetRef): Promise<DatasetRef & Cached> {
      return failFast(() => ingestStage(plan, snapshot));
    },
  };

  async function ingestStage(plan: RunPlan, snapshot?: DatasetRef): Promise<DatasetRef & Cached> {
    const pipeline = resolvePipeline(plan.pipeline);
    const source = pipeline.source(plan.config as never);
    // A file or prefix is cached by its content; a query or URL is read every time.
    const file = snapshot ? undefined : await deps.sources.fingerprint(source);
    const result = await trackedStage(
      deps,
      plan,
      'ingest',
      {
        ...(file
          ? {
              cache: {
                implementation: 'ingest/1',
                inputs: {
                  file: file.digest,
                  limit: source.limit ?? null,
                  format: source.format ?? null,
                  ...(source.incremental ? { incremental: true } : {}),
                },
              },
            }
          : {}),
        artifacts: (r: DatasetRef) => ({ data: r.data, manifest: r.manifest }),
        liveness: true,
      },
      async () => {
        if (snapshot) {
          for (const ref of [snapshot.data, snapshot.manifest]) await store.getBytes(ref.digest);
          return snapshot;
        }
        Context.current().heartbeat({ stage: 'read' });
        const previous = source.incremental ? await previousSnapshot(deps, plan.pipeline, source.path) : undefined;
        const read = await deps.sources.read(source, previous);
        const data = await store.putBytes(encodeTable(read.table), { mediaType: 'application/vnd.cairn.table' });
        return datasetOf(store, read.table, data, read.source);
      }
    );
    await setRunDataset(db, plan.runId, result.digest);
    return result;
  }
}

/**
 * The last accepted snapshot of a pipeline read from `path` (its table, read when asked, and where it came from): what
 * an incremental source appends the newer parts to. Only the pipeline's 20 latest snapshots are looked at.
 */
export async function previousSnapshot(
  { db, store }: Pick<ActivityDeps, 'db' | 'store'>,
  pipeline: string,
  path: string
): Promise<PreviousSnapshot | undefined> {
  for (const dataset of (await listDatasets(db, pipeline)).slice(0, 20)) {
    const manifest = await store.getJson<DatasetManifest>(dataset.manifestDigest).catch(() => undefined);
    if (manifest?.source.path === path)
      return { table: () => loadDataset(store, dataset.digest, dataset.digest), source: manifest.source };
  }
  return undefined;
}

/** A dataset version for a stored table: its manifest (schema, statistics, source) put beside it. */
async function datasetOf(
  store: ActivityDeps['store'],
  table: Table,
  data: ArtifactRef,
  source: TableSource
): Promise<DatasetRef> {
  const manifest = buildManifest(table, source);
  const manifestRef = await store.putBytes(canonicalJson(manifest), { mediaType: 'application/json' });
  return {
    digest: manifest.digest,
    rowCount: table.rowCount,
    schemaDigest: manifest.schemaDigest,
    data,
    manifest: manifestRef,
  };
}

/**
 * The `tabular` recipe's first stage: a table a project step stored (Cairn's table encoding) becomes a dataset
 * version with its manifest, exactly as `ingest` makes one from a file.
 */
export function createSnapshotStage({ db, store }: Pick<ActivityDeps, 'db' | 'store'>) {
  return async (plan: RunPlan, table: ArtifactRef, source: TableSource): Promise<DatasetRef> => {
    const dataset = await datasetOf(store, decodeTable(await store.getBytes(table.digest)), table, source);
    await setRunDataset(db, plan.runId, dataset.digest);
    return dataset;
  };
}
