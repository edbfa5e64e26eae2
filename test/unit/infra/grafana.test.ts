import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const dashboard = JSON.parse(readFileSync('infra/grafana/cairn-dashboard.json', 'utf8')) as {
  uid: string;
  templating: { list: { name: string }[] };
  panels: { title: string; datasource: { uid: string }; targets: { expr: string; datasource: { uid: string } }[] }[];
};

/** Metric names Cairn registers: prom-client metrics of the online server, and the activities' metric meter. */
const defined = new Set(
  ['serving/metrics.ts', 'activities/monitor.ts'].flatMap((file) =>
    [...readFileSync(file, 'utf8').matchAll(/['"](cairn_[a-z0-9_]+)['"]/g)].map((m) => m[1]!)
  )
);

/** Temporal's TypeScript SDK (core) worker metrics the dashboard reads (docs.temporal.io, SDK metrics reference). */
const TEMPORAL = [
  'temporal_workflow_completed',
  'temporal_workflow_failed',
  'temporal_activity_execution_latency',
  'temporal_activity_schedule_to_start_latency',
  'temporal_activity_execution_failed',
  'temporal_worker_task_slots_used',
];

const names = (expr: string) => [...expr.matchAll(/\b((?:cairn|temporal)_[a-z0-9_]+)\{/g)].map((m) => m[1]!);
const base = (name: string) => name.replace(/_(bucket|sum|count)$/, '');

describe('the Grafana dashboard (infra/grafana/cairn-dashboard.json)', () => {
  it('has panels whose queries use its Prometheus datasource variable and its job variables', () => {
    expect(dashboard.uid).toBe('cairn-overview');
    expect(dashboard.templating.list.map((v) => v.name)).toEqual(['datasource', 'workers', 'servers']);
    expect(dashboard.panels.length).toBeGreaterThanOrEqual(10);
    for (const panel of dashboard.panels) {
      expect(panel.datasource.uid, panel.title).toBe('${datasource}');
      expect(panel.targets.length, panel.title).toBeGreaterThan(0);
      for (const target of panel.targets) {
        expect(target.datasource.uid).toBe('${datasource}');
        expect(target.expr, panel.title).toMatch(/job=~"\$(workers|servers)"/);
      }
    }
  });

  it('reads only metrics Cairn or the Temporal SDK exports', () => {
    const used = dashboard.panels.flatMap((p) => p.targets.flatMap((t) => names(t.expr))).map(base);
    expect(used.length).toBeGreaterThan(10);
    for (const name of used) {
      if (name.startsWith('temporal_')) expect(TEMPORAL, name).toContain(name);
      else expect([...defined], name).toContain(name);
    }
    // Every metric the online server registers has a panel.
    for (const name of defined) expect(used, name).toContain(name);
  });
});
