import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createToken } from '../../lib/auth/tokens.js';
import { resolveSourcePath } from '../../lib/pipeline/run-config.js';
import type { EvaluatePromptResult } from '../../workflows/evaluate-prompt.js';
import { runEntry } from '../helpers/cli.js';
import { useServices, withWorker } from '../helpers/temporal.js';

const { deps } = useServices();
const KEY = `test-key-${randomUUID()}`;

interface Penguin {
  Species: string;
  Island: string;
  'Beak Length (mm)': number | null;
  'Body Mass (g)': number | null;
}
const penguins = (
  JSON.parse(readFileSync(resolveSourcePath('npm:vega-datasets/data/penguins.json'), 'utf8')) as Penguin[]
)
  .filter((p) => p['Beak Length (mm)'] !== null && p['Body Mass (g)'] !== null)
  // Every 23rd penguin: all three islands.
  .filter((_, i) => i % 23 === 0);

/**
 * A stand-in for an OpenAI-compatible provider, on loopback: no hosted LLM is reachable here. It "knows" each
 * penguin's island from the question, and answers with the island's name alone when asked to, else in a sentence;
 * embeddings are hashed bags of words. It counts the calls it answers and checks the API key.
 */
function standInProvider() {
  const calls = { chat: 0, embeddings: 0, refused: 0 };
  const islandOf = (text: string) =>
    penguins.find((p) => text.includes(`beak ${p['Beak Length (mm)']} mm long and weighs ${p['Body Mass (g)']} g`))
      ?.Island ?? 'unknown';
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      if (req.headers.authorization !== `Bearer ${KEY}`) {
        calls.refused++;
        return res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":{"message":"bad key"}}');
      }
      const request = JSON.parse(body) as { messages?: { content: string }[]; input?: string };
      if (req.url === '/v1/chat/completions') {
        calls.chat++;
        const text = request.messages![0]!.content;
        const island = islandOf(text);
        const content = text.includes('island name only') ? island : `It was recorded on ${island} Island.`;
        return res
          .writeHead(200, { 'content-type': 'application/json' })
          .end(JSON.stringify({ choices: [{ index: 0, message: { role: 'assistant', content } }] }));
      }
      if (req.url === '/v1/embeddings') {
        calls.embeddings++;
        const vector = new Array<number>(32).fill(0);
        for (const word of request.input!.toLowerCase().match(/[a-z]+/g) ?? [])
          vector[[...word].reduce((h, c) => (h * 31 + c.charCodeAt(0)) % 32, 7)]! += 1;
        return res
          .writeHead(200, { 'content-type': 'application/json' })
          .end(JSON.stringify({ data: [{ index: 0, embedding: vector }] }));
      }
      res.writeHead(404).end();
    });
  });
  return { server, calls };
}

const provider = standInProvider();
let baseUrl: string;
const dir = mkdtempSync(join(tmpdir(), 'cairn-prompt-eval-'));
const data = join(dir, 'islands.jsonl');
const keyFile = join(dir, 'llm-key');

beforeAll(async () => {
  await new Promise<void>((resolve) => provider.server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(provider.server.address() as AddressInfo).port}/v1`;
  writeFileSync(
    data,
    penguins
      .map((p) =>
        JSON.stringify({
          variables: { species: p.Species, beak: p['Beak Length (mm)'], mass: p['Body Mass (g)'] },
          reference: p.Island,
        })
      )
      .join('\n')
  );
  writeFileSync(keyFile, `${KEY}\n`);
});
afterAll(() => provider.server.close());

describe('prompt evaluation', () => {
  it('gates a version against production on the same rows; a rerun is answered from the cache alone', async () => {
    const name = `island-${randomUUID().slice(0, 8)}`;
    const cairn = (args: string[], env: Record<string, string> = {}) =>
      runEntry('cli/main.ts', args, { CAIRN_LLM_BASE_URL: baseUrl, CAIRN_LLM_API_KEY_FILE: keyFile, ...env });
    await cairn(['prompts', 'create', name, '--file', 'test/fixtures/prompts/island-v1.json', '-m', 'a sentence']);
    await cairn(['prompts', 'create', name, '--file', 'test/fixtures/prompts/island-v2.json', '-m', 'the name only']);
    const releaser = (await createToken(deps.db, 'prompt-releaser', [`release:${name}`])).token;
    await cairn(['prompts', 'alias', name, 'production', '1'], { CAIRN_TOKEN: releaser });

    // The worker reads the key from its secret file, as `cairn worker` does with CAIRN_LLM_API_KEY_FILE.
    const llm = { baseUrl, apiKey: readFileSync(keyFile, 'utf8').trim(), timeoutMs: 10_000, concurrency: 4 };
    await withWorker({ ...deps, llm }, async (taskQueue) => {
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
            'embedding-similarity:bag-of-words',
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
