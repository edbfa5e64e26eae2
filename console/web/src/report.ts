// A static report (`cairn report`, `cairn monitor report --html`): one self-contained HTML file, the same views and
// charts as the console's pages, drawn from the JSON embedded in the file. It needs no network: links point at the
// console it was made from (a <base> element), for when it is up.
import './style.css';
import { h } from './dom.js';
import { modelView } from './pages/models.js';
import { monitoringView } from './pages/monitoring.js';
import { runView } from './pages/run.js';
import type { ModelDetail, MonitoringDetail, RunDetail } from './types.js';

export type ReportData = { title: string; generatedAt: string; console: string } & (
  | { kind: 'model'; model: ModelDetail; version: number; run: RunDetail | null }
  | { kind: 'monitoring'; monitoring: MonitoringDetail }
);

const data = JSON.parse(document.getElementById('cairn-report')!.textContent!) as ReportData;
document.title = data.title;
document.head.append(h('base', { href: data.console.replace(/\/?$/, '/') }));
document.querySelector('.report-title')!.textContent = data.title;
const view =
  data.kind === 'model'
    ? h('div', {}, modelView(data.model, data.version), data.run ? runView(data.run) : null)
    : monitoringView(data.monitoring);
document
  .getElementById('page')!
  .replaceChildren(
    view,
    h('p', { class: 'muted' }, `Made by Cairn at ${data.generatedAt} from ${data.console}; this file needs no network.`)
  );
