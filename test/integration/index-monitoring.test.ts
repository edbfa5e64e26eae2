import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { createToken } from '../../lib/auth/tokens.js';
import { setVectorIndexAlias } from '../../lib/embeddings/registry.js';
import { loadProject } from '../../lib/pipeline/project.js';
import type { Server } from '../../serving/server.js';
import { checkNowSignal } from '../../workflows/monitor-model.js';
import { monitorIndex } from '../../workflows/monitor-alias.js';
import type { rebuildIndex } from '../../workflows/rebuild-index.js';
import { runPipeline } from '../../workflows/run-pipeline.js';
import { readGlosses } from '../../examples/indexes/wordnet.js';
import { runEntry } from '../helpers/cli.js';
import { startTestServer } from '../helpers/serving.js';
import { useServices, withWorker } from '../helpers/temporal.js';

const project = await loadProject('examples');
const ctx = useServices({ project });
const { deps } = ctx;
let server: Server | undefined;
afterAll(async () => {
  await server?.close();
});

interface Check {
  status: string;
  reason: string;
  reportId?: number;
}

describe('monitoring a vector index in service (monitorIndex)', () => {
  it('finds no drift in queries on the corpus topic; a shifted topic raises a drift alert and asks for a rebuild', async () => {
    await withWorker(deps, async (taskQueue) => {
      const name = `wordnet-${randomUUID().slice(0, 8)}`;
      const built = await ctx.client.workflow.execute(runPipeline, {
        taskQueue,
        workflowId: `wordnet-${randomUUID()}`,
        args: [{ pipeline: 'wordnet-search', config: { limit: 2000, heldOutEvery: 10, index: name } }],
      });
      const { version } = built.outputs as { version: number };
      await setVectorIndexAlias(deps.db, name, 'production', version, 'test', 'index monitoring test');

      let base: string;
      ({ server, base } = await startTestServer(deps, { reloadInterval: 200, flushInterval: '200ms' }));
      const token = (await createToken(deps.db, 'index-client', [`search:${name}`])).token;
      const searchAll = async (queries: string[]) => {
        for (const query of queries) {
          const res = await fetch(`${base}/v1/indexes/${name}/search`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
            body: JSON.stringify({ query, k: 5 }),
          });
          expect(res.status).toBe(200);
        }
      };
      const logged = async () =>
        (
          await deps.db.query<{ n: number }>('SELECT count(*)::int AS n FROM cairn.index_searches WHERE name = $1', [
            name,
          ])
        ).rows[0]!.n;
      const monitor = await ctx.client.workflow.start(monitorIndex, {
        taskQueue,
        workflowId: `monitor-index-${name}`,
        args: [{ index: name, interval: '1h', policy: { minSearches: 30 } }],
      });
      const check = async (seq: number): Promise<Check> => {
        await monitor.signal(checkNowSignal);
        await expect
          .poll(async () => (await monitor.query<{ results: { seq?: number } }>('status')).results.seq, {
            timeout: 30_000,
          })
          .toBe(seq);
        return (await monitor.query<{ results: { last: Check } }>('status')).results.last;
      };
      // Every 50th of the first 2,000 synsets of a topic, spread over them (for animals: held-out queries of the index).
      const sample = async (topic: string) =>
        (await readGlosses([topic]))
          .slice(0, 2000)
          .filter((_, i) => i % 50 === 49)
          .map((g) => g.text);

      // Queries on the corpus's own topic: no alert, no rebuild.
      await searchAll(await sample('noun.animal'));
      await expect.poll(logged, { timeout: 10_000 }).toBe(40);
      const same = await check(1);
      expect(same).toMatchObject({ status: 'ok' });

      // Queries about food: the embeddings drift from the corpus, an alert, and a rebuild request.
      await searchAll(await sample('noun.food'));
      await expect.poll(logged, { timeout: 10_000 }).toBe(80);
      const shifted = await check(2);
      expect(shifted.status).toBe('alert');
      expect(shifted.reason).toMatch(/query embeddings drifted from the corpus/);

      const rebuild = ctx.client.workflow.getHandle<typeof rebuildIndex>(`rebuild-${name}`);
      const rebuilt = await rebuild.result();
      expect(rebuilt.reasons).toEqual([shifted.reason]);
      // The corpus has not changed: the rebuild comes from the step cache, the same index version.
      expect(rebuilt.run.outputs).toMatchObject({ index: name, version });

      const { rows } = await deps.db.query<{ seq: number; status: string; rebuild_id: string | null }>(
        'SELECT seq, status, rebuild_id FROM cairn.alias_reports WHERE name = $1 ORDER BY seq',
        [name]
      );
      expect(rows).toEqual([
        { seq: 1, status: 'ok', rebuild_id: null },
        { seq: 2, status: 'alert', rebuild_id: `rebuild-${name}` },
      ]);
      const reports = await runEntry('cli/main.ts', ['indexes', 'reports', name]);
      expect(reports.stdout).toMatch(/2\s+\d+\s+alert\s+\S+\s+rebuild-/);
      await monitor.terminate('test over');

      // Rebuilds on a schedule (a grown corpus makes a new version): the pipeline and config of the served version.
      const admin = (await createToken(deps.db, 'index-admin', ['admin'])).token;
      const scheduled = await runEntry('cli/main.ts', ['indexes', 'schedule', name, '--cron', '0 3 * * *'], {
        CAIRN_TOKEN: admin,
        CAIRN_TASK_QUEUE: taskQueue,
      });
      expect(scheduled.stdout).toContain(`schedule rebuild-${name}: rebuildIndex(${name}, pipeline wordnet-search)`);
      const schedule = ctx.client.schedule.getHandle(`rebuild-${name}`);
      const { action } = await schedule.describe();
      expect(action).toMatchObject({
        workflowType: 'rebuildIndex',
        args: [{ index: name, pipeline: 'wordnet-search', reason: 'schedule', config: { index: name, limit: 2000 } }],
      });
      await schedule.delete();
    });
  }, 600_000);
});
