// The console against what the quick start left (`npm run demo` first), in real Chromium: every page renders with
// the demo's data, and the monitoring page shows the drifted `origin` histogram. Screenshots of every page go to
// .cairn/test-output/console-demo/ (with --docs, to docs/console-<page>.png: the README's pictures). CI runs it after
// the demo. Needs Debian's chromium (apt-get install -y chromium).
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import type { Page } from 'playwright-core';
import { writeMonitoringReport } from '../console/report.js';
import { ensureBuilt, startConsole } from '../console/server.js';
import { temporalUiBase } from '../lib/temporal/ui.js';
import { loadConfig } from '../lib/config/index.js';
import { createPool } from '../lib/db/pool.js';
import { createLogger } from '../lib/logging/logger.js';
import { runMain } from '../lib/process/main.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const MODEL = 'flight-delays';

function check(ok: boolean, what: string): void {
  if (!ok) throw new Error(`console check failed: ${what}`);
  process.stdout.write(`ok  ${what}\n`);
}

async function count(page: Page, selector: string): Promise<number> {
  await page.locator(selector).first().waitFor({ timeout: 15_000 });
  return page.locator(selector).count();
}

runMain('console-check', async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium`);
  const docs = process.argv.includes('--docs');
  const out = docs ? 'docs' : join('.cairn', 'test-output', 'console-demo');
  mkdirSync(out, { recursive: true });
  const config = loadConfig();
  const logger = createLogger(config);
  const db = createPool(config, logger);
  await ensureBuilt(logger);
  const links = { temporal: temporalUiBase(config) };
  const { app, url } = await startConsole({
    db,
    logger,
    links,
    host: '127.0.0.1',
    port: 0,
  });
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu'] });
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    const shot = (name: string) => page.screenshot({ path: join(out, `console-${name}.png`), fullPage: true });

    await page.goto(`${url}/runs?pipeline=${MODEL}`);
    check((await count(page, 'table.runs tbody tr')) >= 2, `runs: the demo's training and retraining of ${MODEL}`);
    await shot('runs');

    const trained = (
      await db.query<{ id: string }>(
        `SELECT id FROM cairn.runs WHERE pipeline = $1 AND status = 'succeeded' AND model_version IS NOT NULL
       ORDER BY started_at LIMIT 1`,
        [MODEL]
      )
    ).rows[0];
    check(trained !== undefined, 'the demo registered a version of flight-delays');
    await page.goto(`${url}/runs/${trained!.id}`);
    await page.locator('figure.chart[aria-label="rmse"]').waitFor();
    check(
      (await page.getAttribute('figure.chart[aria-label="rmse"]', 'data-series')) === '2',
      `run ${trained!.id}: its training and validation RMSE curves`
    );
    check((await count(page, '.timeline .stage')) >= 6, 'the run: its stage timeline');
    await shot('run');

    await page.goto(`${url}/models/${MODEL}`);
    check((await count(page, '.lineage .node')) === 5, `models: the lineage of ${MODEL}`);
    await shot('model');

    await page.click('.lineage [data-kind=dataset] a');
    await page.locator('figure.bars[data-column="delay"]').waitFor({ timeout: 15_000 });
    check(
      (await count(page, 'figure.bars')) >= 5,
      "datasets: the training data's schema, statistics and a histogram per column"
    );
    await shot('dataset');

    await page.goto(`${url}/releases`);
    check((await count(page, 'table.releases tbody tr')) >= 1, 'releases: the demo release');
    await shot('releases');

    await page.goto(`${url}/monitoring/${MODEL}/production`);
    const origin = page.locator('figure.bars[data-column="origin"]');
    await origin.waitFor({ timeout: 15_000 });
    check((await origin.getAttribute('data-drifted')) === 'true', 'monitoring: origin drifted');
    check(
      Number(await origin.getAttribute('data-bars')) > 10 && (await origin.locator('rect').count()) > 20,
      'monitoring: the origin histogram, reference against current, per airport'
    );
    await shot('monitoring');

    // The same as one HTML file (cairn monitor report --html), opened with the network off.
    const file = join(out === 'docs' ? join('.cairn', 'test-output') : out, 'monitoring-report.html');
    await writeMonitoringReport({ db, links, console: config.console.url }, MODEL, 'production', file);
    const offline = await browser.newContext({ offline: true, viewport: { width: 1400, height: 1000 } });
    const fetched: string[] = [];
    await offline.route('**/*', (route) =>
      route.request().url().startsWith('file://')
        ? route.continue()
        : (fetched.push(route.request().url()), route.abort())
    );
    const report = await offline.newPage();
    await report.goto(pathToFileURL(resolve(file)).href);
    await report.locator('figure.bars[data-column="origin"]').waitFor({ timeout: 15_000 });
    check(
      (await report.locator('figure.chart canvas').count()) >= 6 && fetched.length === 0,
      `${file}: the monitoring plots offline, nothing fetched`
    );
    await offline.close();
    process.stdout.write(`screenshots in ${out}/\n`);
  } finally {
    await browser.close();
    await app.close();
    await db.end();
  }
});
