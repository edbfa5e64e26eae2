// The console in real Chromium (Debian's /usr/bin/chromium, driven by playwright-core) against the console server
// over the test database, after two real training runs of penguins through Temporal. Screenshots of every page go
// to .cairn/test-output/console/.
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeModelReport } from '../../console/report.js';
import { ensureBuilt, startConsole } from '../../console/server.js';
import { getDeployment } from '../../lib/release/deployments.js';
import { releaseModel } from '../../workflows/release-model.js';
import { STAGES, trainingPipeline } from '../../workflows/training-pipeline.js';
import type { TrainingPipelineInput } from '../../workflows/training-pipeline.js';
import { releaseTokens } from '../helpers/records.js';
import { useServices, withWorker } from '../helpers/temporal.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const SHOTS = join('.cairn', 'test-output', 'console');
const TEMPORAL_UI = 'http://127.0.0.1:8233/namespaces/default';

const ctx = useServices();
const { deps } = ctx;
const model = `console-penguins-${randomUUID().slice(0, 8)}`;
const runIds: string[] = [];
let browser: Browser;
let page: Page;
let base: string;
let close: () => Promise<void>;

function train(input: TrainingPipelineInput): Promise<string> {
  return withWorker(deps, async (taskQueue) => {
    const handle = await ctx.client.workflow.start(trainingPipeline, {
      taskQueue,
      workflowId: `console-${randomUUID()}`,
      args: [input],
    });
    await handle.result();
    return handle.workflowId;
  });
}

/** A page's section by its exact heading. */
const card = (title: string) =>
  page.locator('section.card', { has: page.locator('h2', { hasText: new RegExp(`^${title}$`) }) });
const shot = (name: string) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });

beforeAll(async () => {
  if (!existsSync(CHROMIUM))
    throw new Error(
      `${CHROMIUM} is missing: the console's browser tests need Debian's chromium (apt-get install -y chromium)`
    );
  mkdirSync(SHOTS, { recursive: true });
  // Two versions of one model: 20 and 40 rounds, so the comparison has curves of different lengths.
  for (const rounds of [20, 40]) runIds.push(await train({ pipeline: 'penguins', model, config: { rounds } }));
  await ensureBuilt();
  const server = await startConsole({
    db: deps.db,
    logger: deps.logger,
    links: { temporal: TEMPORAL_UI },
    host: '127.0.0.1',
    port: 0,
    client: ctx.client,
  });
  base = server.url;
  close = () => server.app.close();
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu'] });
  page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
}, 240_000);

afterAll(async () => {
  await browser?.close();
  await close?.();
});

describe('the console in Chromium', () => {
  it('lists runs, filters them by model, and opens a run with its stages, metrics, curves and artifacts', async () => {
    await page.goto(`${base}/runs`);
    for (const id of runIds) await page.locator(`tr[data-run="${id}"]`).waitFor();

    await page.selectOption('select[name=model]', model);
    await page.waitForURL(`**/runs?model=${model}`);
    await expect.poll(() => page.locator('table.runs tbody tr').count()).toBe(2);
    await shot('runs');

    await page.click(`a[href="/runs/${runIds[1]}"]`);
    await page.waitForURL(`**/runs/${runIds[1]}`);
    await page.locator('.timeline .stage').first().waitFor();
    // Every stage the run recorded (`prepare` is the workflow's own bookkeeping, not a stage of the run).
    expect(await page.locator('.timeline .stage .name').allTextContents()).toEqual(STAGES.slice(1));
    // The log-loss chart draws the training and the validation curve of 40 rounds.
    const chart = page.locator('figure.chart[aria-label="logLoss"]');
    await expect.poll(() => chart.getAttribute('data-series')).toBe('2');
    expect(await chart.locator('.u-legend .u-series .u-label').allTextContents()).toEqual(
      expect.arrayContaining(['train.logLoss', 'validation.logLoss'])
    );
    expect(await card('Metrics').textContent()).toContain('accuracy');
    expect(await card('Artifacts').textContent()).toMatch(/curves\s*sha256:[0-9a-f]{64}/);
    expect(await page.getAttribute('a.external', 'href')).toBe(
      `${TEMPORAL_UI}/workflows/${runIds[1]}/${(await deps.db.query('SELECT execution_id FROM cairn.runs WHERE id = $1', [runIds[1]])).rows[0].execution_id}/history`
    );
    await shot('run');
  });

  it('compares two runs: their curves overlaid, and the params that differ highlighted', async () => {
    await page.goto(`${base}/runs?model=${model}`);
    for (const id of runIds) await page.check(`tr[data-run="${id}"] input[type=checkbox]`);
    await page.click('button.primary');
    await page.waitForURL('**/compare?runs=*');
    const chart = page.locator('figure.chart[aria-label="validation.logLoss"]');
    await expect.poll(() => chart.getAttribute('data-series')).toBe('2');
    expect(await chart.locator('.u-legend .u-series .u-label').allTextContents()).toEqual(
      expect.arrayContaining([...runIds].reverse())
    );
    const differs = await page.locator('table.compare tr.differs th').allTextContents();
    expect(differs).toContain('rounds');
    expect(differs).not.toContain('learningRate');
    await shot('compare');
  });

  it('shows a model: its versions, metrics over versions, alias history and the lineage of a version', async () => {
    await page.goto(`${base}/models`);
    await page.click(`a[href="/models/${model}"]`);
    await page.waitForURL(`**/models/${model}`);
    const lineage = page.locator('.lineage');
    await lineage.waitFor();
    expect(await lineage.locator('.node .kind').allTextContents()).toEqual([
      'model',
      'run',
      'dataset',
      'manifest',
      'code',
    ]);
    expect(await lineage.locator('[data-kind=run] a').textContent()).toBe(runIds[1]);
    expect(await page.locator('figure.chart[aria-label="accuracy"]').getAttribute('data-series')).toBe('1');
    expect(await card('Versions').locator('tbody tr').count()).toBe(2);
    await shot('model');

    // The lineage's dataset: penguins' schema, statistics and a distribution per column.
    await lineage.locator('[data-kind=dataset] a').click();
    await page.waitForURL('**/datasets/sha256*');
    await card('Distributions').locator('figure.bars').first().waitFor();
    expect(await card('Schema and statistics').locator('tbody tr').count()).toBe(7);
    expect(await page.locator('figure.bars[data-column="Species"]').getAttribute('data-bars')).toBe('3');
    await shot('dataset');
  });

  it('approves a release in the page: refused without a token and with a releaser token, promoted with an approver token', async () => {
    const { rita, alice } = await releaseTokens(deps.db, model);
    await withWorker(
      deps,
      async (taskQueue) => {
        const handle = await ctx.client.workflow.start(releaseModel, {
          taskQueue,
          workflowId: `release-${model}`,
          args: [{ model, version: 2, first: true, token: rita }],
        });
        const status = async () =>
          (await deps.db.query('SELECT status FROM cairn.releases WHERE id LIKE $1', [`${handle.workflowId}/%`]))
            .rows[0]?.status;
        await expect.poll(status, { timeout: 30_000 }).toBe('awaiting-approval');

        await page.goto(`${base}/releases`);
        const form = page.locator(`[data-release="${handle.workflowId}"]`);
        const outcome = form.locator('.outcome');
        await form.waitFor();
        expect(await form.locator('.checklist li.ok').count()).toBeGreaterThan(0);
        await form.locator('button[name=approve]').click();
        await expect
          .poll(() => outcome.textContent())
          .toBe(`Refused: a token with the role approver:${model} is required`);
        // rita's token can release the model, not approve it: the workflow refuses it (the same check as cairn approve).
        await form.locator('input[name=token]').fill(rita);
        await form.locator('button[name=approve]').click();
        await expect.poll(() => outcome.textContent()).toMatch(/^Refused: .*rita/);
        expect(await status()).toBe('awaiting-approval');
        await shot('releases');

        await form.locator('input[name=token]').fill(alice);
        await form.locator('input[name=comment]').fill('looks good');
        await form.locator('button[name=approve]').click();
        await expect.poll(() => outcome.textContent()).toBe('Approved by alice.');
        expect((await handle.result()).status).toBe('promoted');
        expect(await getDeployment(deps.db, model, 'production')).toMatchObject({ stableVersion: 2 });
        await page.goto(`${base}/releases/${handle.workflowId}`);
        await expect
          .poll(() => page.locator('table.releases tbody tr').first().textContent())
          .toMatch(/promoted.*approve by alice: looks good/);
      },
      { trainWorker: false }
    );
  });

  it('writes a model version as one HTML file that shows its plots offline', async () => {
    const file = join(SHOTS, 'report.html');
    const written = await writeModelReport(
      { db: deps.db, links: { temporal: TEMPORAL_UI }, console: base },
      model,
      2,
      file
    );
    expect(written.bytes).toBeGreaterThan(10_000);
    // No network at all: every request but the file itself is refused, and counted.
    const context = await browser.newContext({ offline: true, viewport: { width: 1400, height: 1000 } });
    const requested: string[] = [];
    await context.route('**/*', (route) => {
      if (route.request().url().startsWith('file://')) return route.continue();
      requested.push(route.request().url());
      return route.abort();
    });
    const offline = await context.newPage();
    await offline.goto(pathToFileURL(resolve(file)).href);
    const curves = offline
      .locator('section.card', { has: offline.locator('h2', { hasText: /^Training curves$/ }) })
      .locator('figure.chart[aria-label="logLoss"]');
    await curves.waitFor();
    expect(await curves.getAttribute('data-series')).toBe('2');
    expect(await offline.locator('figure.chart canvas').count()).toBeGreaterThan(4);
    expect(await offline.locator('.lineage .node').count()).toBe(5);
    expect(await offline.title()).toBe(`${model}@2`);
    await offline.screenshot({ path: join(SHOTS, 'report.png'), fullPage: true });
    expect(requested).toEqual([]);
    await context.close();
  });

  it('answers 404 for an unknown run, and the page says so', async () => {
    const response = await fetch(`${base}/api/runs/no-such-run`);
    expect(response.status).toBe(404);
    expect(await response.json()).toEqual({ error: 'run no-such-run not found' });
    await page.goto(`${base}/runs/no-such-run`);
    expect(await page.locator('main .error').textContent()).toBe('run no-such-run not found');
  });
});
