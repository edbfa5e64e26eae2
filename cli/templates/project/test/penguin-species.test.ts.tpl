import { runStepLocally } from 'cairn';
import { describe, expect, it } from 'vitest';
import { measuredPenguins } from '../pipelines/penguin-species.js';

describe('measured-penguins', () => {
  it('keeps the birds with a measured beak and adds their beak ratio', async () => {
    const { output, store } = await runStepLocally(measuredPenguins, { file: 'data/penguins.json' });
    expect(output.rows).toBe(342);
    const table = await store.getTable(output.table);
    expect(table.rowCount).toBe(342);
    expect(table.names).toContain('beakRatio');
    expect(table.columns.beakRatio?.type).toBe('number');
  });
});
