import { describe, expect, it } from 'vitest';
import { InvalidConfigError, parseSets, resolveRunConfig } from '../../../lib/pipeline/run-config.js';
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

  it('refuses keys that would pollute a prototype, from --set and from the workflow input, polluting nothing', () => {
    const pipeline = resolvePipeline('penguins');
    for (const set of ['__proto__.x=1', 'gate.constructor.prototype.x=1', 'prototype=1']) {
      expect(() => resolveRunConfig(pipeline, {}, [set])).toThrow(InvalidConfigError);
      expect(() => parseSets([set], 'penguins')).toThrow(/is not allowed/);
    }
    // JSON.parse makes "__proto__" an own key: a workflow input can carry one.
    const input = JSON.parse('{"gate": {"__proto__": {"polluted": true}}}') as Record<string, unknown>;
    expect(() => resolveRunConfig(pipeline, input)).toThrow(
      'pipeline penguins: invalid config: config key gate.__proto__: "__proto__" is not allowed'
    );
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(({} as Record<string, unknown>).x).toBeUndefined();
  });
});
