// Monitoring: per deployment, drift per feature, prediction drift, decay, latency, volume and cost over time, and
// one report's reference and current distributions (and, for numeric columns, their cumulative distributions: the
// curves the KS statistic measures the largest gap between) for every column that drifted.
import { barChart, lineChart, shares } from '../charts.js';
import type { Series } from '../charts.js';
import { badge, getJson, h, link, num, section, table, time } from '../dom.js';
import type { ColumnDrift, MonitorSummary, MonitoringDetail, StoredReport } from '../types.js';

const TOP_CATEGORIES = 25;

export async function monitorsPage(): Promise<Node> {
  const monitors = await getJson<MonitorSummary[]>('/api/monitoring');
  const page = (m: MonitorSummary) => `/monitoring/${encodeURIComponent(m.model)}/${encodeURIComponent(m.environment)}`;
  return h(
    'div',
    {},
    h('h1', {}, 'Monitoring'),
    monitors.length
      ? table(
          ['deployment', 'version', 'latest', 'window end', 'reports', 'summary'],
          monitors.map((m) => [
            link(page(m), `${m.model} in ${m.environment}`),
            `v${m.version}`,
            badge(m.status),
            time(m.windowEnd),
            String(m.reports),
            m.summary,
          ])
        )
      : h('p', { class: 'empty' }, 'No monitoring reports yet.')
  );
}

/** The KS test's result, where the test decided (numeric columns with small enough samples). */
const ksOf = (c: ColumnDrift) => (c.kind === 'numeric' ? c.statistics.ks : undefined);

/** Reference against current: a histogram, and for a numeric column the two cumulative distributions. */
function distributions(c: ColumnDrift): HTMLElement[] {
  const hist = c.histogram;
  if (!hist) return [];
  const reference = shares(hist.reference);
  const current = shares(hist.current);
  const attrs = { 'data-column': c.column, 'data-drifted': String(c.drifted) };
  if ('categories' in hist) {
    // The categories that weigh most on either side.
    const order = hist.categories
      .map((name, i) => ({ name, i, weight: Math.max(reference[i]!, current[i]!) }))
      .sort((a, b) => b.weight - a.weight)
      .slice(0, TOP_CATEGORIES);
    const title = `${c.column}: reference vs current${hist.categories.length > TOP_CATEGORIES ? ` (top ${TOP_CATEGORIES} of ${hist.categories.length})` : ''}`;
    return [
      barChart(
        title,
        order.map((o) => o.name),
        [
          { label: 'reference (training)', values: order.map((o) => reference[o.i]!) },
          { label: 'current window', values: order.map((o) => current[o.i]!) },
        ],
        attrs
      ),
    ];
  }
  const edge = (v: number) => String(Number(v.toPrecision(3)));
  const labels = reference.map((_, i) => `${edge(hist.edges[i]!)}–${edge(hist.edges[i + 1]!)}`);
  const cumulative = (values: number[]) => {
    let sum = 0;
    return hist.edges.slice(1).map((edge, i): [number, number] => [edge, (sum += values[i]!)]);
  };
  return [
    barChart(
      `${c.column}: reference vs current`,
      labels,
      [
        { label: 'reference (training)', values: reference },
        { label: 'current window', values: current },
      ],
      attrs
    ),
    lineChart(
      `${c.column}: cumulative distributions${ksOf(c) ? ` (KS ${num(ksOf(c)!.statistic)})` : ''}`,
      c.column,
      [
        { label: 'reference (training)', points: [[hist.edges[0]!, 0], ...cumulative(reference)] },
        { label: 'current window', points: [[hist.edges[0]!, 0], ...cumulative(current)] },
      ],
      { x: 'real' }
    ),
  ];
}

function reportSection(stored: StoredReport): HTMLElement {
  const r = stored.report;
  const columns = r.dataDrift?.columns ?? [];
  const drifted = [...columns, ...(r.predictionDrift ? [r.predictionDrift] : [])].filter((c) => c.drifted);
  return section(
    `Report ${stored.seq}: ${time(stored.windowStart)} → ${time(stored.windowEnd)}`,
    h('p', {}, badge(stored.status), ` ${r.summary}`),
    r.breaches.length ? h('ul', { class: 'breaches' }, ...r.breaches.map((b) => h('li', {}, b))) : null,
    stored.retrainId ? h('p', {}, `Retraining requested: ${stored.retrainId}`) : null,
    columns.length
      ? table(
          ['column', 'kind', 'decided by', 'PSI', 'Jensen-Shannon', 'KS (p adjusted)', 'drift'],
          [...columns, ...(r.predictionDrift ? [r.predictionDrift] : [])].map((c) => [
            c.column,
            c.kind,
            c.method,
            num(c.statistics.psi),
            num(c.statistics.jensenShannon),
            ksOf(c) ? `${num(ksOf(c)!.statistic)} (${num(ksOf(c)!.adjustedPValue)})` : '–',
            c.drifted
              ? badge('drifted', 'failed')
              : badge(c.severity === 'warn' ? 'warn' : 'ok', c.severity === 'warn' ? 'cancelled' : 'succeeded'),
          ])
        )
      : h('p', { class: 'muted' }, r.dataDrift?.note ?? 'No drift check in this window.'),
    drifted.length
      ? h('div', { class: 'charts' }, ...drifted.flatMap(distributions))
      : h('p', { class: 'muted' }, 'No column drifted in this window.')
  );
}

export async function monitoringPage(model: string, environment: string, query: URLSearchParams): Promise<Node> {
  const report = query.get('report');
  return monitoringView(
    await getJson<MonitoringDetail>(
      `/api/monitoring/${encodeURIComponent(model)}/${encodeURIComponent(environment)}${report ? `?report=${encodeURIComponent(report)}` : ''}`
    )
  );
}

/** A deployment's monitoring page from its reports (also what a static report shows). */
export function monitoringView(detail: MonitoringDetail): HTMLElement {
  const { model, environment } = detail;
  const t = (s: StoredReport) => Date.parse(s.windowEnd) / 1000;
  const points = (
    value: (s: MonitoringDetail['series'][number]) => number | null | undefined
  ): Array<[number, number]> =>
    detail.series.flatMap((s) => {
      const v = value(s);
      return v === null || v === undefined || !Number.isFinite(v) ? [] : [[t(s), v] as [number, number]];
    });
  const features = [...new Set(detail.series.flatMap((s) => (s.columns ?? []).map((c) => c.column)))];
  const psiSeries: Series[] = features.map((f) => ({
    label: f,
    points: points((s) => s.columns?.find((c) => c.column === f)?.statistics.psi),
  }));
  const metric = detail.series.find((s) => s.report.performance)?.report.performance?.metric;
  const overTime = (title: string, series: Series[]) => lineChart(title, 'window end', series, { x: 'time' });
  const charts = [
    overTime('Data drift per feature (PSI)', psiSeries),
    overTime('Prediction drift (PSI)', [
      { label: 'prediction', points: points((s) => s.report.predictionDrift?.statistics.psi) },
    ]),
    ...(metric
      ? [
          overTime(`Decay: ${metric}`, [
            { label: 'serving', points: points((s) => s.report.performance?.serving) },
            { label: 'training', points: points((s) => s.report.performance?.training) },
          ]),
        ]
      : []),
    overTime('Latency (ms)', [
      { label: 'p50', points: points((s) => s.report.latency.p50Ms) },
      { label: 'p99', points: points((s) => s.report.latency.p99Ms) },
    ]),
    overTime('Volume', [
      { label: 'predictions', points: points((s) => s.report.volume.predictions) },
      { label: 'errors', points: points((s) => s.report.volume.errors) },
    ]),
    overTime('Inference cost', [{ label: 'cost', points: points((s) => s.report.cost.inference) }]),
  ];
  const base = `/monitoring/${encodeURIComponent(model)}/${encodeURIComponent(environment)}`;
  return h(
    'div',
    {},
    h('h1', {}, `Monitoring ${model} in ${environment}`),
    section('Over time', h('div', { class: 'charts' }, ...charts)),
    detail.report ? reportSection(detail.report) : null,
    section(
      'Reports',
      table(
        ['report', 'window end', 'version', 'status', 'summary'],
        [...detail.series]
          .reverse()
          .map((s) => [
            link(`${base}?report=${s.id}`, `#${s.seq}`),
            time(s.windowEnd),
            `v${s.version}`,
            badge(s.status),
            s.report.summary,
          ])
      )
    )
  );
}
