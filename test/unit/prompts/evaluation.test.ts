import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  defineScorer,
  evaluateRows,
  parseEvaluationRows,
  PromptEvaluationError,
} from '../../../lib/prompts/evaluation.js';
import type { Llm } from '../../../lib/prompts/evaluation.js';
import { promptGate } from '../../../lib/prompts/gate.js';
import { definePrompt } from '../../../lib/prompts/prompt.js';

const extract = definePrompt({
  name: 'extract',
  template: 'Extract the island from: {{ text }}',
  variables: z.object({ text: z.string() }),
  model: { name: 'm' },
});
const version = { ...extract, prompt: 'extract', version: 1 };

/** A model that answers JSON for texts that name an island, and prose otherwise; embeddings by first letter. */
const model: Llm = {
  async chat(_prompt, variables) {
    const text = (variables as { text: string }).text;
    const island = /Biscoe|Dream|Torgersen/.exec(text)?.[0];
    return island ? JSON.stringify({ island }) : 'I do not know.';
  },
  async embedding(_model, text) {
    return [text.startsWith('{') ? 1 : 0, text.startsWith('{') ? 0 : 1];
  },
};

describe('prompt evaluation', () => {
  it('reads a JSON array or JSON lines, naming the row or line at fault', () => {
    expect(parseEvaluationRows('[{"variables": {"a": 1}, "reference": "x"}]', 'd.json')).toEqual([
      { variables: { a: 1 }, reference: 'x' },
    ]);
    expect(parseEvaluationRows('{"variables": {}}\n\n{"variables": {"b": 2}}\n', 'd.jsonl')).toHaveLength(2);
    expect(() => parseEvaluationRows('{"variables": {}}\n{oops', 'd.jsonl')).toThrow(/^d\.jsonl: line 2: /);
    expect(() => parseEvaluationRows('{"variables": {}, "extra": 1}', 'd.jsonl')).toThrow(PromptEvaluationError);
    expect(() => parseEvaluationRows('  ', 'd.jsonl')).toThrow('d.jsonl: no rows');
  });

  it('scores every answer by every scorer and averages them', async () => {
    const rows = [
      { variables: { text: 'seen on Biscoe' }, reference: '{"island":"Biscoe"}' },
      { variables: { text: 'seen on Dream' }, reference: '{"island":"Torgersen"}' },
      { variables: { text: 'seen at sea' }, reference: '{"island":"Biscoe"}' },
      { variables: { text: 'seen on Torgersen' }, reference: '{"island":"Torgersen"}' },
    ];
    const schema = {
      type: 'object',
      properties: { island: { type: 'string', enum: ['Biscoe', 'Dream', 'Torgersen'] } },
      required: ['island'],
    };
    const done: number[] = [];
    const { results, metrics } = await evaluateRows(
      version,
      rows,
      [
        { kind: 'exact' },
        { kind: 'json-schema', schema },
        { kind: 'regex', pattern: 'biscoe', flags: 'i', name: 'says_biscoe' },
        { kind: 'embedding-similarity', model: 'e' },
      ],
      model,
      2,
      (n) => done.push(n)
    );
    expect(results.map((r) => r.scores)).toEqual([
      { exact: 1, json_schema: 1, says_biscoe: 1, embedding_similarity: 1 },
      { exact: 0, json_schema: 1, says_biscoe: 0, embedding_similarity: 1 },
      { exact: 0, json_schema: 0, says_biscoe: 0, embedding_similarity: 0 },
      { exact: 1, json_schema: 1, says_biscoe: 0, embedding_similarity: 1 },
    ]);
    expect(metrics).toEqual({ exact: 0.5, json_schema: 0.75, says_biscoe: 0.25, embedding_similarity: 0.75 });
    expect(done.sort()).toEqual([1, 2, 3, 4]);
  });

  it("uses the project's own scorers by name, refusing an unknown one and a score outside 0..1", async () => {
    const length = defineScorer({ name: 'short', score: (answer) => (answer.length <= 20 ? 1 : 0) });
    const broken = defineScorer({ name: 'broken', score: () => 2 });
    const known = new Map([
      ['short', length],
      ['broken', broken],
    ]);
    const rows = [{ variables: { text: 'seen on Biscoe' } }, { variables: { text: 'seen at sea' } }];
    const { metrics } = await evaluateRows(
      version,
      rows,
      [{ kind: 'project', scorer: 'short' }],
      model,
      1,
      undefined,
      known
    );
    expect(metrics).toEqual({ short: 1 });
    await expect(
      evaluateRows(version, rows, [{ kind: 'project', scorer: 'long' }], model, 1, undefined, known)
    ).rejects.toThrow('unknown scorer long (the project defines: broken, short)');
    await expect(
      evaluateRows(version, rows, [{ kind: 'project', scorer: 'broken' }], model, 1, undefined, known)
    ).rejects.toThrow('row 0: scorer broken gave 2, not a score from 0 to 1');
    expect(() => defineScorer({ name: 'Bad Name', score: () => 0 })).toThrow(PromptEvaluationError);
  });

  it('names the row a reference-based scorer has no reference for', async () => {
    await expect(evaluateRows(version, [{ variables: { text: 'x' } }], [{ kind: 'exact' }], model, 1)).rejects.toThrow(
      'row 0: scorer exact needs a reference answer'
    );
  });

  it('passes a candidate no worse than its baseline (within the tolerance) and above the minimum', () => {
    expect(promptGate('exact', 0.8, { version: 3, value: 0.8 }, { tolerance: 0 }).passed).toBe(true);
    expect(promptGate('exact', 0.78, { version: 3, value: 0.8 }, { tolerance: 0.05 }).passed).toBe(true);
    expect(promptGate('exact', 0.7, { version: 3, value: 0.8 }, { tolerance: 0.05 }).reasons).toEqual([
      "exact 0.7000 is below the baseline v3's 0.8000 by more than 0.05",
    ]);
    expect(promptGate('exact', 0.7, undefined, { tolerance: 0, minScore: 0.9 })).toMatchObject({
      passed: false,
      reasons: ['exact 0.7000 is below the minimum 0.9'],
    });
    expect(promptGate('exact', 0.7, undefined, { tolerance: 0 }).passed).toBe(true);
  });
});
