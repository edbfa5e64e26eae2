import { runLocally } from 'cairn';
import { describe, expect, it } from 'vitest';
import { penguinReport } from '../pipelines/penguin-report.js';

describe('penguin-report', () => {
  it('summarizes every island and finds the heaviest birds on Biscoe (the Gentoos)', async () => {
    const run = await runLocally(penguinReport);
    expect(run.outputs.penguins).toBe(342);
    expect(run.outputs.heaviestIsland).toBe('Biscoe');
    const islands = run.steps['summarize-island'] as { island: string; penguins: number }[];
    expect(islands.map((i) => i.island)).toEqual(['Biscoe', 'Dream', 'Torgersen']);
    expect(islands.reduce((n, i) => n + i.penguins, 0)).toBe(342);
  });
});
