// The Cairn console: pages for runs (list, one run, a comparison) and models, drawn from the console's API.
import './style.css';
import { h } from './dom.js';
import { comparePage } from './pages/compare.js';
import { datasetPage, datasetsPage } from './pages/datasets.js';
import { modelPage, modelsPage } from './pages/models.js';
import { monitoringPage, monitorsPage } from './pages/monitoring.js';
import { releasesPage } from './pages/releases.js';
import { runPage } from './pages/run.js';
import { runsPage } from './pages/runs.js';
import { startRouter } from './router.js';

const root = document.getElementById('page')!;

function page(path: string, query: URLSearchParams): { section: string; load: () => Promise<Node> } {
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  const [first, second] = parts;
  if (first === 'runs' && second) return { section: 'runs', load: () => runPage(second) };
  if (first === 'compare') return { section: 'runs', load: () => comparePage(query) };
  if (first === 'models' && second) return { section: 'models', load: () => modelPage(second, query) };
  if (first === 'models') return { section: 'models', load: modelsPage };
  if (first === 'monitoring' && second && parts[2])
    return { section: 'monitoring', load: () => monitoringPage(second, parts[2]!, query) };
  if (first === 'monitoring') return { section: 'monitoring', load: monitorsPage };
  if (first === 'datasets' && second) return { section: 'datasets', load: () => datasetPage(second) };
  if (first === 'datasets') return { section: 'datasets', load: datasetsPage };
  if (first === 'releases') return { section: 'releases', load: () => releasesPage(second) };
  return { section: 'runs', load: () => runsPage(query) };
}

let shown = 0;
startRouter((path, query) => {
  const { section, load } = page(path, query);
  for (const a of document.querySelectorAll('nav a'))
    a.classList.toggle('active', a.getAttribute('data-section') === section);
  const ticket = ++shown;
  root.setAttribute('aria-busy', 'true');
  load()
    .then(
      (node) => {
        if (ticket !== shown) return;
        root.replaceChildren(node);
        // The page's content is in the document (bench/console.ts reads this mark for the first page).
        performance.mark('cairn:page-rendered', { detail: section });
      },
      (err: unknown) =>
        ticket === shown && root.replaceChildren(h('p', { class: 'error' }, String((err as Error).message ?? err)))
    )
    .finally(() => ticket === shown && root.removeAttribute('aria-busy'));
});
