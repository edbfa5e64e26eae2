import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createReleaseActivities } from '../../activities/release.js';
import type { Decision, ReleaseRequest } from '../../activities/release.js';
import { RecordConflictError } from '../../lib/errors.js';
import { reportReplica, stagedVersions, stageVersion, unstageRelease } from '../../lib/release/fleet.js';
import type { ReplicaReport } from '../../lib/release/fleet.js';
import { registerVersion } from '../../lib/registry/models.js';
import { getRun } from '../../lib/tracking/queries.js';
import { startRun } from '../../lib/tracking/runs.js';
import { trainingPipeline } from '../../workflows/training-pipeline.js';
import { registerTestVersion, testRun } from '../helpers/records.js';
import { useServices, withWorker } from '../helpers/temporal.js';

// Every key that deduplicates work or records, with what a repeat of the same write and a conflicting write do.
// Covered elsewhere: monitor reports (monitor.test.ts, a monitor started again under the same workflow id), model
// versions per run (registry.test.ts, a register retried after its commit), batch outputs per execution
// (batch-inference.test.ts), the prediction feed per prediction id (unit/serving/feed.test.ts).
const ctx = useServices();
const { deps } = ctx;
const uid = () => randomUUID().slice(0, 8);

describe('records keyed per execution, not per workflow id', () => {
  it('runs: a workflow id used again gets a run record of its own; a retried start finds its own', async () => {
    const workflowId = `dedup-train-${uid()}`;
    const model = `dedup-${uid()}`;
    const [first, second] = await withWorker(deps, async (taskQueue) => {
      const results = [];
      for (let i = 0; i < 2; i++) {
        const handle = await ctx.client.workflow.start(trainingPipeline, {
          taskQueue,
          workflowId,
          args: [{ pipeline: 'penguins', model, config: { rounds: 3 } }],
        });
        results.push({ result: await handle.result(), execution: handle.firstExecutionRunId });
      }
      return results;
    });
    expect(first!.result.runId).toBe(workflowId);
    expect(second!.result.runId).toBe(`${workflowId}.${second!.execution.slice(0, 8)}`);
    for (const { result } of [first!, second!]) {
      const run = await getRun(deps.db, result.runId);
      expect(run).toMatchObject({ status: 'succeeded', modelName: model, modelVersion: result.model.version });
      expect(run!.stages.map((s) => s.status)).toEqual(Array(run!.stages.length).fill('succeeded'));
    }
    expect(first!.result.model.version).not.toBe(second!.result.model.version);

    // An activity retried after its start was recorded gets the same id back, and no second record.
    const again = await startRun(deps.db, testRun(deps, workflowId, second!.execution));
    expect(again).toBe(second!.result.runId);
    const { rows } = await deps.db.query('SELECT id FROM cairn.runs WHERE workflow_id = $1 ORDER BY started_at', [
      workflowId,
    ]);
    expect(rows.map((r) => r.id)).toEqual([first!.result.runId, second!.result.runId]);
  });

  it('releases and approvals: keyed by workflow id and run; a repeated record writes nothing new', async () => {
    const releases = createReleaseActivities(deps);
    const model = `dedup-${uid()}`;
    await registerTestVersion(deps, model);
    const workflowId = `release-${model}-v1-production`;
    const request = (run: string): ReleaseRequest => ({
      releaseId: `${workflowId}/${run}`,
      model,
      version: 1,
      environment: 'production',
      strategy: { kind: 'direct' },
      first: true,
    });
    const decision: Decision = {
      seq: 1,
      decision: 'approve',
      by: 'alice',
      accepted: true,
      at: new Date().toISOString(),
    };
    for (const run of ['run-a', 'run-b']) {
      for (let retry = 0; retry < 2; retry++) {
        await releases.startRelease(request(run));
        await releases.recordRelease(request(run).releaseId, 'rolling-out', [decision]);
      }
    }
    const { rows } = await deps.db.query<{ id: string; approvals: number }>(
      `SELECT r.id, (SELECT count(*)::int FROM cairn.approvals a WHERE a.release_id = r.id) AS approvals
       FROM cairn.releases r WHERE r.model = $1 ORDER BY r.id`,
      [model]
    );
    expect(rows).toEqual([
      { id: `${workflowId}/run-a`, approvals: 1 },
      { id: `${workflowId}/run-b`, approvals: 1 },
    ]);
  });
});

describe('conflicting writes are errors, never a silent keep', () => {
  it('models: a model belongs to the pipeline that registered it first', async () => {
    const model = `dedup-${uid()}`;
    const version = (runId: string, pipeline: string) => ({
      model,
      pipeline,
      runId,
      packageDigest: `sha256:${runId}`,
      datasetDigest: 'sha256:d',
      metrics: {},
      gate: {},
      lineage: {},
    });
    const runs = [`dedup-a-${uid()}`, `dedup-b-${uid()}`];
    for (const r of runs) await startRun(deps.db, testRun(deps, r));
    expect(await registerVersion(deps.db, version(runs[0]!, 'penguins'))).toEqual({ version: 1, created: true });
    const err = await registerVersion(deps.db, version(runs[1]!, 'flight-delays')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RecordConflictError);
    expect((err as Error).message).toBe(
      `model ${model} belongs to pipeline penguins; a run of pipeline flight-delays cannot register versions of it (register under another model name)`
    );
    const { rows } = await deps.db.query('SELECT version FROM cairn.model_versions WHERE model = $1', [model]);
    expect(rows).toEqual([{ version: 1 }]);
  });

  it('replicas: a heartbeat refreshes its own row; the same id from another process is refused', async () => {
    const report: ReplicaReport = {
      id: `online-test-${uid()}`,
      kind: 'online',
      environment: `dedup-${uid()}`,
      host: 'h',
      pid: 1,
      routes: [],
      loaded: [],
      errors: [],
    };
    await reportReplica(deps.db, report);
    await reportReplica(deps.db, { ...report, loaded: ['m@1'] });
    const { rows } = await deps.db.query('SELECT loaded FROM cairn.replicas WHERE id = $1', [report.id]);
    expect(rows).toEqual([{ loaded: ['m@1'] }]);
    await expect(reportReplica(deps.db, { ...report, pid: 2 })).rejects.toThrow(
      `replica id ${report.id} is already taken by another process`
    );
  });

  it('staged versions: staging again is one request; ending the release withdraws it', async () => {
    const model = `dedup-${uid()}`;
    await registerTestVersion(deps, model);
    const environment = `dedup-${uid()}`;
    const staged = { releaseId: `r-${uid()}/run`, model, environment, version: 1 };
    await stageVersion(deps.db, staged);
    await stageVersion(deps.db, staged);
    expect(await stagedVersions(deps.db, environment)).toEqual([staged]);
    await unstageRelease(deps.db, staged.releaseId);
    expect(await stagedVersions(deps.db, environment)).toEqual([]);
  });
});
