import { describe, expect, it } from 'vitest';
import { monitoringPolicyProblems } from '../../../lib/monitoring/policy.js';

const inputs = ['Island', 'Body Mass (g)'];
const metrics = ['accuracy', 'logLoss'];

describe('monitoring policy checks (run by the release checklist)', () => {
  it('accepts a valid policy', () => {
    expect(
      monitoringPolicyProblems(
        { interval: '1h', features: ['Island'], performance: { metric: 'accuracy', maxDegradation: 0.05 } },
        inputs,
        metrics
      )
    ).toEqual([]);
  });

  it('names a missing policy, unknown features and an unmeasured metric', () => {
    expect(monitoringPolicyProblems(undefined, inputs, metrics)).toEqual([
      'the pipeline defines no monitoring policy (definePipeline({ monitoring }))',
    ]);
    expect(
      monitoringPolicyProblems(
        { features: ['Island', 'Wingspan'], performance: { metric: 'rmse', maxDegradation: 1 } },
        inputs,
        metrics
      )
    ).toEqual([
      'monitoring.features: unknown feature "Wingspan" (inputs: Island, Body Mass (g))',
      'monitoring.performance.metric: rmse was not measured at training (measured: accuracy, logLoss)',
    ]);
  });

  it('names invalid thresholds by their path', () => {
    const problems = monitoringPolicyProblems(
      { interval: 'hourly', drift: { ks: { pValue: 2 }, psi: { warm: 0.1 } } },
      inputs,
      metrics
    );
    expect(problems.join('\n')).toMatch(/monitoring\.interval: expected a duration like '1h'/);
    expect(problems.join('\n')).toMatch(
      /monitoring\.drift\.ks\.pValue: ks\.pValue is a significance level and must be in \(0, 1\)/
    );
    expect(problems.join('\n')).toMatch(/unknown threshold "warm" in psi/);
  });
});
