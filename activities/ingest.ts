import { Context } from '@temporalio/activity';
import { hashFile } from '../lib/artifacts/digest.js';
import { buildManifest, encodeTable, readTable } from '../lib/data/index.js';
import { DataReadError } from '../lib/data/table.js';
import { canonicalJson } from '../lib/ml/canonical-json.js';
import { resolveSourcePath } from '../lib/pipeline/run-config.js';
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
    const path = resolveSourcePath(source.path);
    const file = snapshot
      ? undefined
      : await hashFile(path).catch((err: NodeJS.ErrnoException) => {
          throw err.code === 'ENOENT' ? new DataReadError(path, 'the file does not exist') : err;
        });
    const result = await trackedStage(
      deps,
      plan,
      'ingest',
      {
        ...(file
          ? {
              cache: {
                implementation: 'ingest/1',
                inputs: { file: file.digest, limit: source.limit ?? null, format: source.format ?? null },
              },
            }
          : {}),
        artifacts: (r: DatasetRef) => ({ data: r.data, manifest: r.manifest }),
      },
      async () => {
        if (snapshot) {
          for (const ref of [snapshot.data, snapshot.manifest]) await store.getBytes(ref.digest);
          return snapshot;
        }
        Context.current().heartbeat({ stage: 'read' });
        const table = await readTable(path, {
          ...(source.format ? { format: source.format } : {}),
          ...(source.limit ? { limit: source.limit } : {}),
        });
        const data = await store.putBytes(encodeTable(table), { mediaType: 'application/vnd.cairn.table' });
        const manifest = buildManifest(table, { path: source.path, bytes: file!.bytes, sha256: file!.digest });
        const manifestRef = await store.putBytes(canonicalJson(manifest), { mediaType: 'application/json' });
        return {
          digest: manifest.digest,
          rowCount: table.rowCount,
          schemaDigest: manifest.schemaDigest,
          data,
          manifest: manifestRef,
        };
      }
    );
    await setRunDataset(db, plan.runId, result.digest);
    return result;
  }
}
