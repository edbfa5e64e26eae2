import { Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import type { LoadedModel } from '../../../serving/model-set.js';
import { createServingMetrics } from '../../../serving/metrics.js';

const loaded = (model: string, version: number) => ({ model, version }) as LoadedModel;

/** The lines of one metric family in a scrape. */
const family = (text: string, name: string) =>
  text.split('\n').filter((line) => line.startsWith(name) || line.includes(` ${name} `));

describe('serving metrics', () => {
  it('exports request durations as prom-client would, and counts statuses and predictions per version', async () => {
    const metrics = createServingMetrics({ routes: () => [], droppedSamples: () => 0, rejectedSamples: () => 0 });
    // The same observations through prom-client's own Histogram, on the same buckets.
    const registry = new Registry();
    const reference = new Histogram({
      name: 'cairn_serving_request_duration_seconds',
      help: "Seconds from a predict request's arrival to its answer.",
      labelNames: ['model', 'version'] as const,
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    });
    const seconds = [0.0001, 0.0005, 0.0007, 0.003, 0.003, 0.02, 0.4, 0.9, 3, 7, 12];
    seconds.forEach((s, i) => {
      const [model, version] = i % 3 === 0 ? ['a', 1] : ['b', 2];
      metrics.of(loaded(model as string, version as number)).request(i % 4 === 0 ? 500 : 200, s, 2);
      reference.observe({ model: model as string, version: String(version) }, s);
    });
    const ours = await metrics.registry.metrics();
    const theirs = await registry.metrics();
    const name = 'cairn_serving_request_duration_seconds';
    expect(family(ours, name).sort()).toEqual(family(theirs, name).sort());
    expect(ours).toContain('cairn_serving_requests_total{model="a",version="1",status="500"} 1');
    expect(ours).toContain('cairn_serving_requests_total{model="a",version="1",status="200"} 3');
    expect(ours).toContain('cairn_serving_requests_total{model="b",version="2",status="200"} 5');
    expect(ours).toContain('cairn_serving_requests_total{model="b",version="2",status="500"} 2');
    expect(ours).toContain('cairn_serving_predictions_total{model="a",version="1"} 8');
    // Counted once: a second scrape adds nothing new.
    expect(await metrics.registry.metrics()).toContain(
      'cairn_serving_requests_total{model="b",version="2",status="200"} 5'
    );
  });
});
