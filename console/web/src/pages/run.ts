// One run: what it was (pipeline, config, code, data), its stage timeline, params, metrics, training curves and
// artifacts, with a link to its workflow in the Temporal UI.
import { lineChart } from '../charts.js';
import { curvesOf, finalMetrics, metricOf } from '../curves.js';
import { badge, bytes, duration, getJson, h, link, num, section, short, table, time } from '../dom.js';
import type { RunDetail } from '../types.js';

/** Stages as bars on the run's time axis: where each started and how long it took, attempts and cache hits. */
function timeline(run: RunDetail): HTMLElement {
  const start = Date.parse(run.startedAt);
  const end = Math.max(
    run.endedAt ? Date.parse(run.endedAt) : Date.now(),
    ...run.stages.map((s) => (s.endedAt ? Date.parse(s.endedAt) : start))
  );
  const span = Math.max(1, end - start);
  return h(
    'div',
    { class: 'timeline' },
    ...run.stages.map((s) => {
      const from = Date.parse(s.startedAt) - start;
      const to = (s.endedAt ? Date.parse(s.endedAt) : end) - start;
      const bar = h('div', {
        class: `bar ${s.status}${s.cacheHit ? ' cached' : ''}`,
        style: `left:${((100 * from) / span).toFixed(2)}%;width:${Math.max(0.6, (100 * (to - from)) / span).toFixed(2)}%`,
        title: s.error ?? `${s.stage}: ${duration(s.wallMs)}`,
      });
      return h(
        'div',
        { class: 'stage', 'data-stage': s.stage },
        h('span', { class: 'name' }, s.stage),
        h('div', { class: 'track' }, bar),
        h(
          'span',
          { class: 'facts' },
          badge(s.status),
          s.cacheHit ? badge('cache hit', 'cached') : null,
          s.attempt > 1 ? badge(`attempt ${s.attempt}`, 'retried') : null,
          ` wall ${duration(s.wallMs)} · cpu ${duration(s.cpuMs)}`
        )
      );
    })
  );
}

/** One chart per metric: the training and validation curves together. */
export function curveCharts(run: RunDetail): HTMLElement[] {
  const byMetric = new Map<string, { label: string; points: Array<[number, number]> }[]>();
  for (const [name, points] of curvesOf(run)) {
    const metric = metricOf(name);
    byMetric.set(metric, [...(byMetric.get(metric) ?? []), { label: name, points }]);
  }
  return [...byMetric].map(([metric, series]) => lineChart(metric, 'round', series));
}

export async function runPage(id: string): Promise<Node> {
  return runView(await getJson<RunDetail>(`/api/runs/${encodeURIComponent(id)}`));
}

/** A run's page from its record (also what a static report shows). */
export function runView(run: RunDetail): HTMLElement {
  const metrics = finalMetrics(run);
  const charts = curveCharts(run);
  const facts: [string, Node | string][] = [
    ['pipeline', `${run.pipeline} v${run.pipelineVersion}`],
    ['trigger', `${run.trigger}${run.requestedBy ? ` by ${run.requestedBy}` : ''}`],
    ['started', time(run.startedAt)],
    ['took', duration(run.endedAt ? Date.parse(run.endedAt) - Date.parse(run.startedAt) : null)],
    ['cpu', `${run.cpuSeconds.toFixed(2)} s (cost ${run.cost.toFixed(6)})`],
    ['code', `${run.codeCommit.slice(0, 12)}${run.codeDirty ? ' (dirty)' : ''}`],
    ['config', short(run.configDigest)],
    [
      'dataset',
      run.datasetDigest ? link(`/datasets/${encodeURIComponent(run.datasetDigest)}`, short(run.datasetDigest)) : '–',
    ],
    [
      'model',
      run.modelName
        ? link(`/models/${encodeURIComponent(run.modelName)}`, `${run.modelName}@${run.modelVersion}`)
        : '–',
    ],
    ['package', short(run.packageDigest)],
  ];
  return h(
    'div',
    {},
    h(
      'h1',
      {},
      `Run ${run.id} `,
      badge(run.status),
      h('a', { class: 'external', href: run.temporal, target: '_blank', rel: 'noopener' }, 'Open in Temporal UI ↗')
    ),
    run.error ? h('pre', { class: 'error' }, run.error) : null,
    h('dl', { class: 'facts' }, ...facts.map(([k, v]) => h('div', {}, h('dt', {}, k), h('dd', {}, v)))),
    section('Stages', timeline(run)),
    h(
      'div',
      { class: 'columns' },
      section(
        'Params',
        table(
          ['param', 'value'],
          Object.entries(run.params).map(([k, v]) => [k, v])
        )
      ),
      section(
        'Metrics',
        Object.keys(metrics).length
          ? table(
              ['metric', 'value'],
              Object.entries(metrics).map(([k, v]) => [k, num(v)])
            )
          : h('p', { class: 'muted' }, 'No metrics recorded.')
      )
    ),
    section(
      'Training curves',
      charts.length
        ? h('div', { class: 'charts' }, ...charts)
        : h('p', { class: 'muted' }, 'This run recorded no curves.')
    ),
    section(
      'Artifacts',
      table(
        ['stage', 'role', 'digest', 'size'],
        run.artifacts.map((a) => [a.stage, a.role, h('code', {}, a.digest), bytes(Number(a.bytes))])
      )
    ),
    h('p', {}, link(`/runs?pipeline=${encodeURIComponent(run.pipeline)}`, `← runs of ${run.pipeline}`))
  );
}
