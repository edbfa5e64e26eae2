import { describe, expect, it } from 'vitest';
import { readTable } from '../../../lib/data/index.js';
import { featureFromSpec } from '../../../lib/features/kinds.js';
import { FeatureStateError, buildMatrix, fitFeatures } from '../../../lib/features/matrix.js';
import { resolveSourcePath } from '../../../lib/pipeline/run-config.js';
import { PIPELINES } from '../../../pipelines/index.js';

describe('features rebuilt from a package alone', () => {
  it.each(Object.keys(PIPELINES))(
    '%s: the recorded specs compute the same matrix as the pipeline code',
    async (name) => {
      const pipeline = PIPELINES[name]!;
      const config = pipeline.config.parse({}) as never;
      const table = await readTable(resolveSourcePath(pipeline.source(config).path), { limit: 3000 });
      const rows = Int32Array.from({ length: table.rowCount }, (_, i) => i);
      const defs = pipeline.features(config);
      // What the package stores: JSON, read back.
      const specs = JSON.parse(JSON.stringify(fitFeatures(defs, table, rows)));
      const rebuilt = specs.map(featureFromSpec);
      const expected = buildMatrix(defs, specs, table, rows);
      const actual = buildMatrix(rebuilt, specs, table, rows);
      expect(actual.names).toEqual(expected.names);
      for (let c = 0; c < expected.columns.length; c++) expect(actual.columns[c]).toEqual(expected.columns[c]);
    }
  );

  it('names an unknown kind instead of guessing', () => {
    expect(() => featureFromSpec({ name: 'x', kind: 'embedding', inputs: ['a'], state: null })).toThrow(
      FeatureStateError
    );
    expect(() => featureFromSpec({ name: 'x', kind: 'embedding', inputs: ['a'], state: null })).toThrow(
      /kind embedding, which is not built in \(known: numeric, category, date-part, bucketize\)/
    );
  });
});
