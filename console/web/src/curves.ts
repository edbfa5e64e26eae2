// Training curves from a run's metrics: the ones recorded per step (step > 0), named `<set>.<metric>`.
import type { RunDetail } from './types.js';

export type Curves = Map<string, Array<[number, number]>>;

/** Each curve of a run by its name (`validation.rmse`), as [step, value] points. */
export function curvesOf(run: RunDetail): Curves {
  const curves: Curves = new Map();
  for (const m of run.metrics) {
    if (m.step <= 0) continue;
    const points = curves.get(m.name) ?? [];
    points.push([m.step, m.value]);
    curves.set(m.name, points);
  }
  return curves;
}

/** The metric a curve measures: `validation.rmse` → rmse. */
export const metricOf = (name: string) => name.slice(name.indexOf('.') + 1);

/** A run's final metrics (step 0: what evaluation recorded). */
export const finalMetrics = (run: RunDetail) =>
  Object.fromEntries(run.metrics.filter((m) => m.step === 0).map((m) => [m.name, m.value]));
