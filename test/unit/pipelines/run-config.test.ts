import { describe, expect, it } from 'vitest';
import { parseSets, resolveRunConfig } from '../../../lib/pipeline/run-config.js';
import { resolvePipeline, UnknownPipelineError } from '../../../pipelines/index.js';

describe('pipeline index and run config', () => {
  it('resolves pipelines by name and names the known ones otherwise', () => {
    expect(resolvePipeline('penguins').target).toEqual({ column: 'Species', task: 'multiclass' });
    expect(() => resolvePipeline('pengiuns')).toThrow(UnknownPipelineError);
    expect(() => resolvePipeline('pengiuns')).toThrow('unknown pipeline "pengiuns" (known: flight-delays, penguins)');
  });

  it('layers config.yaml, the workflow input and --set over the defaults', () => {
    const pipeline = resolvePipeline('flight-delays');
    const { config, configDigest } = resolveRunConfig(pipeline, { rounds: 10, gate: { maxRmse: 50 } }, [
      'rows=5000',
      'gate.maxRmse=45',
    ]);
    expect(config).toMatchObject({ rows: 5000, rounds: 10, learningRate: 0.1, gate: { maxRmse: 45 } });
    expect(configDigest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(resolveRunConfig(pipeline, { gate: { maxRmse: 45 }, rows: 5000, rounds: 10 }).configDigest).toBe(
      configDigest
    );
  });

  it('names unknown keys and wrong types', () => {
    const pipeline = resolvePipeline('penguins');
    expect(() => resolveRunConfig(pipeline, {}, ['roundz=3'])).toThrow(
      'pipeline penguins: invalid config: unknown config key roundz'
    );
    expect(() => resolveRunConfig(pipeline, { gate: { minAccuracy: 'high' } })).toThrow(
      /config key gate\.minAccuracy: .*expected number/
    );
    expect(() => parseSets(['rounds'])).toThrow('--set "rounds": expected key=value');
  });
});
