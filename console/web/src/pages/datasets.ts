// Datasets: the accepted versions, and one version's schema (columns and types), statistics and histograms.
import { barChart, shares } from '../charts.js';
import { badge, getJson, h, link, num, section, short, table, time } from '../dom.js';
import type { ColumnStatistics, DatasetDetail, DatasetVersion } from '../types.js';

export async function datasetsPage(): Promise<Node> {
  const versions = await getJson<DatasetVersion[]>('/api/datasets');
  return h(
    'div',
    {},
    h('h1', {}, 'Datasets'),
    versions.length
      ? table(
          ['version', 'pipeline', 'rows', 'schema', 'manifest', 'accepted'],
          versions.map((v) => [
            link(`/datasets/${encodeURIComponent(v.digest)}`, h('code', {}, short(v.digest))),
            v.pipeline,
            num(v.rowCount),
            h('code', {}, short(v.schemaDigest)),
            h('code', {}, short(v.manifestDigest)),
            time(v.acceptedAt),
          ]),
          { class: 'datasets' }
        )
      : h('p', { class: 'empty' }, 'No dataset accepted yet.')
  );
}

/** A column's distribution: its histogram (numbers, timestamps), most frequent values (strings) or true/false. */
function distribution(c: ColumnStatistics): HTMLElement | null {
  const attrs = { 'data-column': c.name };
  const present = c.count - c.missing;
  if (c.type === 'string')
    return barChart(
      `${c.name}: most frequent`,
      c.top.map((t) => t.value),
      [
        {
          label: 'share of rows',
          values: shares(
            c.top.map((t) => t.count),
            c.count
          ),
        },
      ],
      attrs
    );
  if (c.type === 'boolean')
    return barChart(
      c.name,
      ['true', 'false'],
      [{ label: 'share of rows', values: shares([c.true, c.false], c.count) }],
      attrs
    );
  if (!c.histogram) return null;
  const label = (v: number) =>
    c.type === 'timestamp' ? new Date(v).toISOString().slice(0, 10) : String(Number(v.toPrecision(3)));
  const { edges, counts } = c.histogram;
  return barChart(
    c.name,
    counts.map((_, i) => `${label(edges[i]!)}–${label(edges[i + 1]!)}`),
    [{ label: 'share of rows', values: shares(counts, present) }],
    attrs
  );
}

function summary(c: ColumnStatistics): string {
  if (c.type === 'string') return `${num(c.distinct)} distinct`;
  if (c.type === 'boolean') return `${num(c.true)} true, ${num(c.false)} false`;
  const v = (x: number | null) =>
    x === null ? '–' : c.type === 'timestamp' ? new Date(x).toISOString().slice(0, 16) : num(x);
  return `min ${v(c.min)} · mean ${v(c.mean)} · max ${v(c.max)}${c.type === 'number' ? ` · std ${num(c.std)}` : ''}`;
}

export async function datasetPage(digest: string): Promise<Node> {
  const d = await getJson<DatasetDetail>(`/api/datasets/${encodeURIComponent(digest)}`);
  const columns = d.statistics?.columns ?? [];
  return h(
    'div',
    {},
    h('h1', {}, `Dataset ${short(d.digest)} `, badge(d.pipeline, 'alias')),
    h('p', { class: 'muted' }, `${num(d.rowCount)} rows · accepted ${time(d.acceptedAt)}`),
    h(
      'p',
      {},
      h('code', {}, d.digest),
      h('br'),
      h('code', {}, `schema ${d.schemaDigest} · manifest ${d.manifestDigest}`)
    ),
    section(
      'Schema and statistics',
      table(
        ['column', 'type', 'rows', 'missing', 'summary'],
        columns.map((c) => [h('code', {}, c.name), c.type, num(c.count), num(c.missing), summary(c)])
      )
    ),
    section(
      'Distributions',
      h('div', { class: 'charts' }, ...columns.map(distribution).filter((e): e is HTMLElement => e !== null))
    ),
    section(
      'Runs on this version',
      d.runs.length
        ? table(
            ['run', 'status', 'model', 'started'],
            d.runs.map((r) => [
              link(`/runs/${encodeURIComponent(r.id)}`, r.id),
              badge(r.status),
              r.modelName ? `${r.modelName}@${r.modelVersion}` : '–',
              time(r.startedAt),
            ])
          )
        : h('p', { class: 'muted' }, 'No run recorded this version as its dataset.')
    )
  );
}
