import { Context } from '@temporalio/activity';
import { hashFile } from '../lib/artifacts/digest.js';
import { buildManifest, encodeTable, readTable } from '../lib/data/index.js';
import { DataReadError } from '../lib/data/table.js';
import { canonicalJson } from '../lib/ml/canonical-json.js';
import { resolveSourcePath } from '../lib/pipelines/run-config.js';
import { resolvePipeline } from '../pipelines/index.js';
import type { ActivityDeps } from './deps.js';
import { failFast } from './failures.js';
import type { DatasetRef, RunPlan } from './stage-types.js';

export function createIngestActivities({ store }: ActivityDeps) {
  return {
    /**
     * Reads the pipeline's source into a snapshot: the canonical encoding of the data (its digest is the dataset
     * version, whatever the file is called) and a manifest with schema and statistics, both in the store.
     */
    async ingest(plan: RunPlan): Promise<DatasetRef> {
      return failFast(async () => {
        const pipeline = resolvePipeline(plan.pipeline);
        const source = pipeline.source(plan.config as never);
        const path = resolveSourcePath(source.path);
        const file = await hashFile(path).catch((err: NodeJS.ErrnoException) => {
          throw err.code === 'ENOENT' ? new DataReadError(path, 'the file does not exist') : err;
        });
        Context.current().heartbeat({ stage: 'read' });
        const table = await readTable(path, {
          ...(source.format ? { format: source.format } : {}),
          ...(source.limit ? { limit: source.limit } : {}),
        });
        const encoded = encodeTable(table);
        const data = await store.putBytes(encoded, { mediaType: 'application/vnd.cairn.table' });
        const manifest = buildManifest(table, { path: source.path, bytes: file.bytes, sha256: file.digest });
        const manifestRef = await store.putBytes(canonicalJson(manifest), { mediaType: 'application/json' });
        return {
          digest: manifest.digest,
          rowCount: table.rowCount,
          schemaDigest: manifest.schemaDigest,
          data,
          manifest: manifestRef,
        };
      });
    },
  };
}
