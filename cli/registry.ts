import type { Client } from '@temporalio/client';
import type { ArtifactStore } from '../lib/artifacts/index.js';
import type { CairnConfig } from '../lib/config/index.js';
import type { Pool } from '../lib/db/pool.js';
import { parseModelRef } from '../lib/registry/model-ref.js';
import { ModelRefError } from '../lib/registry/model-ref.js';
import { resolveVersion } from '../lib/registry/models.js';
import type { ModelVersion } from '../lib/registry/models.js';
import { getDataset, getRun } from '../lib/tracking/queries.js';
import type { RunDetail } from '../lib/tracking/queries.js';
import type { trainingPipeline } from '../workflows/training-pipeline.js';
import { CairnPipeline, CairnTrigger } from '../workflows/search-attributes.js';

/** A run a user named that does not exist: one line, exit 2. */
export class UnknownRunError extends Error {
  override readonly name = 'UnknownRunError';
  readonly userFacing = true;
  constructor(readonly runId: string) {
    super(`unknown run ${runId} (see: cairn runs list)`);
  }
}

export async function requireRun(db: Pool, id: string): Promise<RunDetail> {
  const run = await getRun(db, id);
  if (!run) throw new UnknownRunError(id);
  return run;
}

export interface Lineage {
  model: string;
  version: number;
  package: string;
  run: {
    id: string;
    status: string;
    trigger: string;
    requestedBy: string | null;
    startedAt: Date;
    pipeline: string;
    pipelineVersion: string;
  };
  parentRuns: { id: string; trigger: string; status: string }[];
  config: Record<string, unknown>;
  configDigest: string;
  code: { commit: string; dirty: boolean };
  /** The bundle of the project code that made a project pipeline's package (CAIRN_PROJECT=bundle:<digest> runs it). */
  projectBundle: string | null;
  /** An external trainer's model: the ONNX file's digest and the Python environment (lock) that made it. */
  trainer: { onnx: string; environment: string | null; packages: string[] } | null;
  dataset: {
    digest: string;
    rowCount: number | null;
    schemaDigest: string | null;
    manifest: { digest: string | null; readable: boolean; columns?: string[] };
    /** Where the rows came from; a prefix's parts, and those read anew by an incremental read. */
    source?: { path: string; parts: string[]; newParts: string[] };
  };
}

/** Dataset → run → model version for `<model>@<version|alias>`, checking that the manifest is readable. */
export async function lineageOf(db: Pool, store: ArtifactStore, refText: string): Promise<Lineage> {
  const version = await resolveVersion(db, parseModelRef(refText));
  const run = await requireRun(db, version.runId);
  const parentRuns: Lineage['parentRuns'] = [];
  for (let parent = run.parentRunId; parent;) {
    const p = await getRun(db, parent);
    if (!p) break;
    parentRuns.push({ id: p.id, trigger: p.trigger, status: p.status });
    parent = p.parentRunId;
  }
  const [dataset] = await getDataset(db, version.datasetDigest);
  let manifest: Lineage['dataset']['manifest'] = { digest: dataset?.manifestDigest ?? null, readable: false };
  let source: Lineage['dataset']['source'];
  if (dataset) {
    try {
      const m = JSON.parse((await store.getBytes(dataset.manifestDigest)).toString('utf8')) as {
        schema: { name: string }[];
        source: { path: string; parts?: { key: string }[]; newParts?: string[] };
      };
      manifest = { digest: dataset.manifestDigest, readable: true, columns: m.schema.map((c) => c.name) };
      source = {
        path: m.source.path,
        parts: (m.source.parts ?? []).map((p) => p.key),
        newParts: m.source.newParts ?? [],
      };
    } catch {
      /* reported as not readable */
    }
  }
  const pkg = await store
    .getJson<{
      lineage?: { project?: { bundle: string } };
      model?: { kind: string; digest?: string; environment?: { lock: string; packages: string[] } };
    }>(version.packageDigest)
    .catch(() => undefined);
  const onnx = pkg?.model?.kind === 'onnx' ? pkg.model : undefined;
  return {
    model: version.model,
    version: version.version,
    package: version.packageDigest,
    projectBundle: pkg?.lineage?.project?.bundle ?? null,
    trainer: onnx
      ? {
          onnx: onnx.digest!,
          environment: onnx.environment?.lock ?? null,
          packages: onnx.environment?.packages ?? [],
        }
      : null,
    run: {
      id: run.id,
      status: run.status,
      trigger: run.trigger,
      requestedBy: run.requestedBy,
      startedAt: run.startedAt,
      pipeline: run.pipeline,
      pipelineVersion: run.pipelineVersion,
    },
    parentRuns,
    config: run.config,
    configDigest: run.configDigest,
    code: { commit: run.codeCommit, dirty: run.codeDirty },
    dataset: {
      digest: version.datasetDigest,
      rowCount: dataset?.rowCount ?? null,
      schemaDigest: dataset?.schemaDigest ?? null,
      manifest,
      ...(source ? { source } : {}),
    },
  };
}

export function formatLineage(l: Lineage): string {
  const params = Object.entries(l.config)
    .map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : String(v)}`)
    .join(' ');
  return [
    `${l.model}@${l.version}  package ${l.package}`,
    ...(l.trainer
      ? [
          `├─ onnx model ${l.trainer.onnx}`,
          `│  └─ python environment ${l.trainer.environment ?? 'none (the command ran as it is)'}  ${l.trainer.packages.join(' ')}`,
        ]
      : []),
    `├─ run ${l.run.id}  ${l.run.status}, trigger ${l.run.trigger}${l.run.requestedBy ? ` by ${l.run.requestedBy}` : ''}, ${l.run.startedAt.toISOString()}`,
    ...l.parentRuns.map((p) => `│  ├─ parent run ${p.id}  ${p.status}, trigger ${p.trigger}`),
    `│  ├─ pipeline ${l.run.pipeline} v${l.run.pipelineVersion}`,
    `│  ├─ config ${l.configDigest}  ${params}`,
    `│  ${l.projectBundle ? '├' : '└'}─ code ${l.code.commit}${l.code.dirty ? ' (dirty)' : ' (clean)'}`,
    ...(l.projectBundle
      ? [`│  └─ project bundle ${l.projectBundle}  (run it: CAIRN_PROJECT=bundle:${l.projectBundle})`]
      : []),
    `└─ dataset ${l.dataset.digest}  ${l.dataset.rowCount ?? '?'} rows, schema ${l.dataset.schemaDigest ?? '?'}`,
    `   ${l.dataset.source ? '├' : '└'}─ manifest ${l.dataset.manifest.digest ?? '?'}  ${l.dataset.manifest.readable ? `readable: ${l.dataset.manifest.columns!.join(', ')}` : 'NOT READABLE'}`,
    ...(l.dataset.source ? sourceLines(l.dataset.source) : []),
  ].join('\n');
}

/** A dataset's source in lineage: the file, query or prefix, and a prefix's parts, the newly read ones marked. */
function sourceLines(source: NonNullable<Lineage['dataset']['source']>): string[] {
  const fresh = new Set(source.newParts);
  return [
    `   └─ source ${source.path}${source.parts.length ? `  ${source.parts.length} parts${fresh.size ? `, ${fresh.size} new` : ''}` : ''}`,
    ...source.parts.map(
      (key, i) => `      ${i === source.parts.length - 1 ? '└' : '├'}─ ${key}${fresh.has(key) ? '  (new)' : ''}`
    ),
  ];
}

export interface Reproduction {
  model: string;
  version: number;
  run: string;
  reproducedBy: string;
  registeredPackage: string;
  reproducedPackage: string;
  identical: boolean;
  recordedCommit: string;
  currentCommit: string;
  commitMatches: boolean;
}

/**
 * Re-runs the run that made `<model>@<version>` with its recorded config on its recorded dataset snapshot, cache
 * bypassed and nothing registered, and compares the new package digest with the registered one.
 */
export async function reproduce(
  client: Client,
  db: Pool,
  store: ArtifactStore,
  config: CairnConfig,
  refText: string,
  requestedBy: string
): Promise<Reproduction> {
  const version: ModelVersion = await resolveVersion(db, parseModelRef(refText));
  const run = await requireRun(db, version.runId);
  const [dataset] = await getDataset(db, version.datasetDigest);
  const artifact = (role: string) => {
    const a = run.artifacts.find((x) => x.stage === 'ingest' && x.role === role);
    if (!a) throw new ModelRefError(`run ${run.id} recorded no ${role} snapshot; it cannot be reproduced`);
    return { digest: a.digest, bytes: a.bytes, uri: store.uri(a.digest) };
  };
  if (!dataset) throw new ModelRefError(`dataset ${version.datasetDigest} of ${refText} is not recorded`);
  const workflowId = `reproduce-${version.model}-${version.version}-${Date.now().toString(36)}`;
  const handle = await client.workflow.start<typeof trainingPipeline>('trainingPipeline', {
    taskQueue: config.temporal.taskQueue,
    workflowId,
    args: [
      {
        pipeline: run.pipeline,
        model: version.model,
        config: run.config,
        trigger: 'reproduce',
        requestedBy,
        noCache: true,
        register: false,
        parentRunId: run.id,
        trainTaskQueue: config.temporal.trainTaskQueue,
        dataset: {
          digest: dataset.digest,
          rowCount: dataset.rowCount,
          schemaDigest: dataset.schemaDigest,
          data: artifact('data'),
          manifest: artifact('manifest'),
        },
      },
    ],
    typedSearchAttributes: [
      { key: CairnPipeline, value: run.pipeline },
      { key: CairnTrigger, value: 'reproduce' },
    ],
  });
  const result = await handle.result();
  const again = await requireRun(db, workflowId);
  const recordedCommit = `${run.codeCommit}${run.codeDirty ? ' (dirty)' : ''}`;
  const currentCommit = `${again.codeCommit}${again.codeDirty ? ' (dirty)' : ''}`;
  return {
    model: version.model,
    version: version.version,
    run: run.id,
    reproducedBy: workflowId,
    registeredPackage: version.packageDigest,
    reproducedPackage: result.model.digest,
    identical: result.model.digest === version.packageDigest,
    recordedCommit,
    currentCommit,
    commitMatches: recordedCommit === currentCommit,
  };
}
