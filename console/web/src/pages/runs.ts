// Runs: every run, newest first, filtered by pipeline, status, trigger and model; pick 2–4 to compare.
import { badge, duration, getJson, h, link, num, time } from '../dom.js';
import type { RunList } from '../types.js';
import { navigate } from '../router.js';

const FILTERS = ['pipeline', 'status', 'trigger', 'model'] as const;
const STATUSES = ['running', 'succeeded', 'failed', 'cancelled'];

export async function runsPage(query: URLSearchParams): Promise<Node> {
  const { runs, choices } = await getJson<RunList>(`/api/runs?${query}`);
  const picked = new Set<string>();
  const compare = h('button', { type: 'button', disabled: true, class: 'primary' }, 'Compare selected');
  const refresh = () => {
    compare.toggleAttribute('disabled', picked.size < 2 || picked.size > 4);
    compare.textContent = `Compare selected (${picked.size})`;
  };
  compare.addEventListener('click', () => navigate(`/compare?runs=${[...picked].map(encodeURIComponent).join(',')}`));

  const filter = (name: (typeof FILTERS)[number]) => {
    const values = name === 'status' ? STATUSES : choices[name];
    const select = h(
      'select',
      {
        name,
        onchange: () => {
          const next = new URLSearchParams(query);
          if (select.value) next.set(name, select.value);
          else next.delete(name);
          navigate(`/runs?${next}`);
        },
      },
      h('option', { value: '' }, `any ${name}`),
      ...values.map((v) => h('option', { value: v, selected: query.get(name) === v }, v))
    );
    return h('label', {}, name, select);
  };

  const rows = runs.map((r) => {
    const box = h('input', {
      type: 'checkbox',
      'aria-label': `select run ${r.id}`,
      onchange: () => {
        if (box.checked) picked.add(r.id);
        else picked.delete(r.id);
        refresh();
      },
    });
    const ms = r.endedAt ? Date.parse(r.endedAt) - Date.parse(r.startedAt) : null;
    return h(
      'tr',
      { 'data-run': r.id },
      h('td', {}, box),
      h('td', {}, link(`/runs/${encodeURIComponent(r.id)}`, r.id)),
      h('td', {}, r.pipeline),
      h('td', {}, badge(r.status)),
      h('td', {}, r.trigger),
      h(
        'td',
        {},
        r.modelName ? link(`/models/${encodeURIComponent(r.modelName)}`, `${r.modelName}@${r.modelVersion}`) : '–'
      ),
      h('td', {}, time(r.startedAt)),
      h('td', { class: 'n' }, duration(ms)),
      h('td', { class: 'n' }, num(Number(r.cpuSeconds.toFixed(1)))),
      h('td', {}, r.cacheHits.length ? `${r.cacheHits.length} hit${r.cacheHits.length > 1 ? 's' : ''}` : '–')
    );
  });
  return h(
    'div',
    {},
    h('h1', {}, 'Runs'),
    h('form', { class: 'filters', onsubmit: (e: Event) => e.preventDefault() }, ...FILTERS.map(filter), compare),
    runs.length
      ? h(
          'table',
          { class: 'runs' },
          h(
            'thead',
            {},
            h(
              'tr',
              {},
              ...['', 'run', 'pipeline', 'status', 'trigger', 'model', 'started', 'took', 'cpu s', 'cache'].map((c) =>
                h('th', {}, c)
              )
            )
          ),
          h('tbody', {}, ...rows)
        )
      : h('p', { class: 'empty' }, 'No runs match.'),
    h('p', { class: 'muted' }, `${runs.length} run${runs.length === 1 ? '' : 's'} shown, newest first.`)
  );
}
