// Static reports: one self-contained HTML file per model version or monitored deployment, with the console's own
// views and charts (the report page Vite builds, its script and stylesheet inlined) and the data embedded as JSON.
import { readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Pool } from '../lib/db/pool.js';
import { ModelRefError } from '../lib/registry/model-ref.js';
import { createConsoleApi } from './api.js';
import type { ConsoleLinks } from './api.js';
import { ensureBuilt, REPORT_PAGE } from './server.js';

export interface ReportContext {
  db: Pool;
  links: ConsoleLinks;
  /** The console's base URL: the report's links point there. */
  console: string;
}

/** The report page with its script and stylesheet inlined and `data` embedded: nothing left to fetch. */
export async function reportHtml(data: { kind: string; title: string; [key: string]: unknown }): Promise<string> {
  await ensureBuilt();
  const dir = dirname(REPORT_PAGE);
  const asset = (path: string) => readFile(join(dir, path), 'utf8');
  let html = await readFile(REPORT_PAGE, 'utf8');
  const script = /<script type="module" crossorigin src="([^"]+)"><\/script>/.exec(html);
  const style = /<link rel="stylesheet" crossorigin href="([^"]+)">/.exec(html);
  if (!script || !style)
    throw new Error(`${REPORT_PAGE}: no script or stylesheet to inline (rebuild: npm run console:build)`);
  // In a <script> element, only `</script` (and `<!--`) can end it early: escaped, the code and data are unchanged.
  const safe = (text: string) => text.replace(/<\/(script)/gi, '<\\/$1').replace(/<!--/g, '<\\!--');
  const [code, css] = await Promise.all([asset(script[1]!), asset(style[1]!)]);
  html = html
    .replace(script[0], () => `<script type="module">${safe(code)}</script>`)
    .replace(style[0], () => `<style>${css}</style>`)
    .replace(
      '</head>',
      () =>
        `<script id="cairn-report" type="application/json">${JSON.stringify(data).replace(/</g, '\\u003c')}</script>\n</head>`
    );
  if (/\s(src|href)="\/assets\//.test(html)) throw new Error(`${REPORT_PAGE}: an asset was left to fetch`);
  return html;
}

const now = () => new Date().toISOString().slice(0, 19).replace('T', ' ') + ' UTC';

/** A model version's report: its metrics over versions, lineage, alias history, and its run with curves. */
export async function writeModelReport(ctx: ReportContext, model: string, version: number, file: string) {
  const api = createConsoleApi(ctx.db, ctx.links);
  const detail = await api.model(model);
  const found = detail?.versions.find((v) => v.version === version);
  if (!detail || !found) throw new ModelRefError(`no version ${version} of model ${model}`);
  const title = `${model}@${version}`;
  const html = await reportHtml({
    kind: 'model',
    title,
    generatedAt: now(),
    console: ctx.console,
    model: detail,
    version,
    run: (await api.run(found.runId)) ?? null,
  });
  await writeFile(file, html);
  return { file, bytes: Buffer.byteLength(html) };
}

/** A deployment's monitoring report: every window's figures over time, and one report's distributions. */
export async function writeMonitoringReport(
  ctx: ReportContext,
  model: string,
  environment: string,
  file: string,
  reportId?: number
) {
  const monitoring = await createConsoleApi(ctx.db, ctx.links).monitoring(model, environment, reportId);
  if (!monitoring) throw new ModelRefError(`no monitoring report for ${model} in ${environment} yet`);
  const html = await reportHtml({
    kind: 'monitoring',
    title: `monitoring ${model} in ${environment}`,
    generatedAt: now(),
    console: ctx.console,
    monitoring,
  });
  await writeFile(file, html);
  return { file, bytes: Buffer.byteLength(html) };
}
