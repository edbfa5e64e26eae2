import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { namesTheIsland } from '../../examples/prompts/penguin-island.js';
import { createToken } from '../../lib/auth/tokens.js';
import { defineProject } from '../../lib/pipeline/project.js';
import type { EvaluatePromptResult } from '../../workflows/evaluate-prompt.js';
import { runEntry } from '../helpers/cli.js';
import { freshPrompt, penguins, STAND_IN_KEY, startStandIn, writeIslandDataset } from '../helpers/llm-stand-in.js';
import { useServices, withWorker } from '../helpers/temporal.js';

const { deps } = useServices();
let provider: Awaited<ReturnType<typeof startStandIn>>;
const dir = mkdtempSync(join(tmpdir(), 'cairn-prompt-eval-'));
const data = join(dir, 'islands.jsonl');
const keyFile = join(dir, 'llm-key');

beforeAll(async () => {
  provider = await startStandIn();
  writeIslandDataset(data);
  writeFileSync(keyFile, `${STAND_IN_KEY}\n`);
});
afterAll(() => provider.close());

describe('prompt evaluation', () => {
  it('gates a version against production on the same rows; a rerun is answered from the cache alone', async () => {
    const name = `island-${randomUUID().slice(0, 8)}`;
    const cairn = (args: string[], env: Record<string, string> = {}) =>
      runEntry('cli/main.ts', args, { CAIRN_LLM_BASE_URL: provider.baseUrl, CAIRN_LLM_API_KEY_FILE: keyFile, ...env });
    const file = (v: number) => freshPrompt(`test/fixtures/prompts/island-v${v}.json`, dir, name);
    await cairn(['prompts', 'create', name, '--file', file(1), '-m', 'a sentence']);
    await cairn(['prompts', 'create', name, '--file', file(2), '-m', 'the name only']);
    const releaser = (await createToken(deps.db, 'prompt-releaser', [`release:${name}`])).token;
    await cairn(['prompts', 'alias', name, 'production', '1'], { CAIRN_TOKEN: releaser });

    // The worker reads the key from its secret file, as `cairn worker` does with CAIRN_LLM_API_KEY_FILE.
    const llm = {
      baseUrl: provider.baseUrl,
      apiKey: readFileSync(keyFile, 'utf8').trim(),
      timeoutMs: 10_000,
      concurrency: 4,
    };
    // The example project's scorers, as a worker loading it has them.
    const project = defineProject({ pipelines: [], scorers: [namesTheIsland] });
    await withWorker({ ...deps, llm, project }, async (taskQueue) => {
      const evaluate = (ref: string, ...more: string[]) =>
        cairn(
          [
            'prompts',
            'evaluate',
            ref,
            '--data',
            data,
            '--scorer',
            'exact',
            '--scorer',
            'regex:Biscoe|Dream|Torgersen',
            '--scorer',
            `embedding-similarity:bag-of-words-${name}`,
            '--scorer',
            'project:names-the-island',
            '--json',
            ...more,
          ],
          { CAIRN_TASK_QUEUE: taskQueue }
        );
      const first = await evaluate(`${name}@2`);
      expect(first.code, first.stderr).toBe(0);
      const result = JSON.parse(first.stdout) as EvaluatePromptResult;
      const rows = penguins.length;
      expect(new Set(penguins.map((p) => p.Island)).size).toBe(3);
      // Asked: each row's answer; the embeddings of the 3 islands and of the baseline's 3 sentences, once each.
      expect(result.baseline).toMatchObject({ version: 1, rows, calls: rows + 6, cached: 2 * rows - 6 });
      expect(result.candidate).toMatchObject({ version: 2, rows, calls: rows, cached: 2 * rows });
      expect(result.candidate.metrics.exact).toBe(1);
      expect(result.candidate.metrics.regex).toBe(1);
      expect(result.baseline!.metrics.exact).toBe(0);
      expect(result.baseline!.metrics.regex).toBe(1);
      // The project's scorer: both name the right island, one in a sentence.
      expect(result.baseline!.metrics.names_the_island).toBe(1);
      expect(result.candidate.metrics.names_the_island).toBe(1);
      expect(result.baseline!.metrics.embedding_similarity).toBeGreaterThan(0.2);
      expect(result.baseline!.metrics.embedding_similarity).toBeLessThan(1);
      expect(result.gate).toMatchObject({
        passed: true,
        metric: 'exact',
        candidate: 1,
        baseline: 0,
        baselineVersion: 1,
      });
      expect(provider.calls).toEqual({ chat: 2 * rows, embeddings: 6, refused: 0 });

      // The same evaluation again: every answer and embedding from the cache, the same metrics.
      const asked = { ...provider.calls };
      const again = JSON.parse((await evaluate(`${name}@2`)).stdout) as EvaluatePromptResult;
      expect(provider.calls).toEqual(asked);
      expect(again.candidate).toMatchObject({ calls: 0, metrics: result.candidate.metrics });
      expect(again.baseline).toMatchObject({ calls: 0, metrics: result.baseline!.metrics });
      expect(again.candidate.id).not.toBe(result.candidate.id);

      // The worse version against a production that is the better one: the gate fails, exit 3, saying why.
      await cairn(['prompts', 'alias', name, 'production', '2'], { CAIRN_TOKEN: releaser });
      const worse = await evaluate(`${name}@1`);
      expect(worse.code).toBe(3);
      const failed = JSON.parse(worse.stdout) as EvaluatePromptResult;
      expect(failed.gate.passed).toBe(false);
      expect(failed.gate.reasons).toEqual(["exact 0.0000 is below the baseline v2's 1.0000"]);
      expect(provider.calls).toEqual(asked);

      const shown = await cairn(['prompts', 'show', name]);
      expect(shown.stdout).toMatch(/EVALUATION +VERSION +METRICS +GATE/);
      expect(shown.stdout).toContain('failed');
    });
  });

  it('refuses a malformed dataset, or a row the version cannot render, before starting anything, naming the row', async () => {
    const name = `island-${randomUUID().slice(0, 8)}`;
    await runEntry('cli/main.ts', [
      'prompts',
      'create',
      name,
      '--file',
      'test/fixtures/prompts/island-v1.json',
      '-m',
      'v1',
    ]);
    const evaluate = (file: string, rows: string) => {
      writeFileSync(file, rows);
      return runEntry('cli/main.ts', ['prompts', 'evaluate', `${name}@1`, '--data', file]);
    };
    const malformed = join(dir, 'malformed.jsonl');
    const refused = await evaluate(malformed, '{"variables": {"species": "Adelie"}}\n{"variables": 3}\n');
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain(`${malformed}: row 1: variables:`);
    const unfit = join(dir, 'unfit.jsonl');
    const missing = await evaluate(
      unfit,
      '{"variables": {"species": "Adelie", "beak": 39.1, "mass": 3750}}\n{"variables": {"species": "Adelie", "beak": "long"}}\n'
    );
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain(`${unfit}: row 1: beak: `);
    expect(missing.stderr).toContain('mass: missing');
  });
});
