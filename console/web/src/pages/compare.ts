// 2–4 runs side by side: what differs (highlighted) among their facts, params and metrics, and their curves overlaid.
import { lineChart } from '../charts.js';
import { curvesOf, finalMetrics } from '../curves.js';
import { badge, getJson, h, link, num, section, short } from '../dom.js';
import type { RunDetail } from '../types.js';

/** Rows of values per run; a row whose values are not all the same is marked `differs`. */
function sideBySide(runs: RunDetail[], rows: [string, (run: RunDetail, i: number) => string][]): HTMLTableElement {
  return h(
    'table',
    { class: 'compare' },
    h(
      'thead',
      {},
      h('tr', {}, h('th', {}, ''), ...runs.map((r) => h('th', {}, link(`/runs/${encodeURIComponent(r.id)}`, r.id))))
    ),
    h(
      'tbody',
      {},
      ...rows.map(([label, value]) => {
        const values = runs.map(value);
        const differs = new Set(values).size > 1;
        return h('tr', { class: differs ? 'differs' : '' }, h('th', {}, label), ...values.map((v) => h('td', {}, v)));
      })
    )
  );
}

export async function comparePage(query: URLSearchParams): Promise<Node> {
  const ids = (query.get('runs') ?? '').split(',').filter(Boolean);
  if (ids.length < 2 || ids.length > 4) throw new Error('Pick 2 to 4 runs to compare (runs=a,b in the address).');
  const runs = await Promise.all(ids.map((id) => getJson<RunDetail>(`/api/runs/${encodeURIComponent(id)}`)));
  const metrics = runs.map(finalMetrics);
  const keys = (records: Record<string, unknown>[]) => [...new Set(records.flatMap((r) => Object.keys(r)))].sort();
  const curves = runs.map(curvesOf);
  const curveNames = [...new Set(curves.flatMap((c) => [...c.keys()]))].sort();
  return h(
    'div',
    {},
    h('h1', {}, `Comparing ${runs.length} runs`),
    section(
      'Runs',
      sideBySide(runs, [
        ['status', (r) => r.status],
        ['pipeline', (r) => `${r.pipeline} v${r.pipelineVersion}`],
        ['model', (r) => (r.modelName ? `${r.modelName}@${r.modelVersion}` : '–')],
        ['code', (r) => r.codeCommit.slice(0, 12) + (r.codeDirty ? ' (dirty)' : '')],
        ['config', (r) => short(r.configDigest)],
        ['dataset', (r) => short(r.datasetDigest)],
        ['package', (r) => short(r.packageDigest)],
      ])
    ),
    section(
      'Params',
      sideBySide(
        runs,
        keys(runs.map((r) => r.params)).map((k) => [k, (r: RunDetail) => r.params[k] ?? '–'])
      )
    ),
    section(
      'Metrics',
      sideBySide(
        runs,
        keys(metrics).map((k) => [k, (_r: RunDetail, i: number) => num(metrics[i]![k])])
      )
    ),
    section(
      'Training curves',
      curveNames.length
        ? h(
            'div',
            { class: 'charts' },
            ...curveNames.map((name) =>
              lineChart(
                name,
                'round',
                runs.flatMap((r, i) => {
                  const points = curves[i]!.get(name);
                  return points ? [{ label: r.id, points }] : [];
                })
              )
            )
          )
        : h('p', { class: 'muted' }, 'None of these runs recorded curves.')
    ),
    h('p', { class: 'muted' }, 'Rows marked ', badge('differ', 'differs'), ' are not the same in every run.')
  );
}
