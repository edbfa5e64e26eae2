// Models: the registry's models with their aliases; a model's versions, metrics over versions, alias history and
// the lineage of a version (model → run → dataset → manifest → code and config).
import { lineChart } from '../charts.js';
import { badge, getJson, h, link, num, section, short, table, time } from '../dom.js';
import type { ModelDetail, ModelSummary, ModelVersion } from '../types.js';

const aliasBadges = (aliases: Record<string, number>) =>
  Object.entries(aliases).map(([alias, version]) => badge(`${alias} → v${version}`, `alias ${alias}`));

export async function modelsPage(): Promise<Node> {
  const models = await getJson<ModelSummary[]>('/api/models');
  return h(
    'div',
    {},
    h('h1', {}, 'Models'),
    models.length
      ? table(
          ['model', 'pipeline', 'versions', 'aliases'],
          models.map((m) => [
            link(`/models/${encodeURIComponent(m.name)}`, m.name),
            m.pipeline,
            String(m.versions),
            aliasBadges(m.aliases),
          ]),
          { class: 'models' }
        )
      : h('p', { class: 'empty' }, 'No models registered yet.')
  );
}

/** The chain a version comes from, left to right. */
function lineage(v: ModelVersion): HTMLElement {
  const node = (kind: string, ...body: (Node | string)[]) =>
    h('div', { class: 'node', 'data-kind': kind }, h('span', { class: 'kind' }, kind), ...body);
  const arrow = () => h('span', { class: 'arrow', 'aria-hidden': 'true' }, '←');
  return h(
    'div',
    { class: 'lineage', 'aria-label': `lineage of ${v.model}@${v.version}` },
    node('model', `${v.model}@${v.version}`, h('code', {}, short(v.packageDigest))),
    arrow(),
    node('run', link(`/runs/${encodeURIComponent(v.runId)}`, v.runId), v.run ? `trigger ${v.run.trigger}` : ''),
    arrow(),
    node(
      'dataset',
      link(`/datasets/${encodeURIComponent(v.datasetDigest)}`, h('code', {}, short(v.datasetDigest))),
      v.dataset ? `${num(v.dataset.rowCount)} rows` : ''
    ),
    arrow(),
    node('manifest', h('code', {}, short(v.dataset?.manifestDigest))),
    arrow(),
    node(
      'code',
      v.run ? `${v.run.codeCommit.slice(0, 12)}${v.run.codeDirty ? ' (dirty)' : ''}` : '–',
      h('code', {}, `config ${short(v.run?.configDigest)}`)
    )
  );
}

export async function modelPage(name: string, query: URLSearchParams): Promise<Node> {
  const model = await getJson<ModelDetail>(`/api/models/${encodeURIComponent(name)}`);
  return modelView(model, Number(query.get('version')) || undefined);
}

/** A model's page, its lineage shown for `chosen` (the newest version by default). */
export function modelView(model: ModelDetail, chosen = model.versions.at(-1)?.version): HTMLElement {
  const version = model.versions.find((v) => v.version === chosen);
  const metricNames = [...new Set(model.versions.flatMap((v) => Object.keys(v.metrics)))].sort();
  return h(
    'div',
    {},
    h('h1', {}, `Model ${model.name} `, ...aliasBadges(model.aliases)),
    h('p', { class: 'muted' }, `pipeline ${model.pipeline}, ${model.versions.length} versions`),
    section(
      'Metrics over versions',
      model.versions.length > 1
        ? h(
            'div',
            { class: 'charts' },
            ...metricNames.map((m) =>
              lineChart(
                m,
                'version',
                [
                  {
                    label: m,
                    points: model.versions.filter((v) => m in v.metrics).map((v) => [v.version, v.metrics[m]!]),
                  },
                ],
                { width: 360 }
              )
            )
          )
        : h('p', { class: 'muted' }, 'One version so far.')
    ),
    version ? section(`Lineage of version ${version.version}`, lineage(version)) : null,
    section(
      'Versions',
      table(
        ['version', 'registered', 'run', 'dataset', 'package', 'signed', ...metricNames],
        [...model.versions]
          .reverse()
          .map((v) => [
            link(`/models/${encodeURIComponent(model.name)}?version=${v.version}`, `v${v.version}`),
            time(v.createdAt),
            link(`/runs/${encodeURIComponent(v.runId)}`, v.runId),
            h('code', {}, short(v.datasetDigest)),
            h('code', {}, short(v.packageDigest)),
            v.signature ? 'yes' : 'no',
            ...metricNames.map((m) => num(v.metrics[m])),
          ])
      )
    ),
    section(
      'Alias history',
      model.history.length
        ? table(
            ['when', 'alias', 'version', 'was', 'by', 'reason'],
            [...model.history]
              .reverse()
              .map((m) => [
                time(m.setAt),
                m.alias,
                `v${m.version}`,
                m.previousVersion === null ? '–' : `v${m.previousVersion}`,
                m.setBy,
                m.reason,
              ])
          )
        : h('p', { class: 'muted' }, 'No alias has been set.')
    )
  );
}
