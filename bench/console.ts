// The console's first meaningful paint: the runs page with BENCH_RUNS (1,000) runs in the database, opened in a fresh
// Chromium context each time (nothing cached: the built script and stylesheet are fetched, parsed and run, then the
// page asks /api/runs and draws the table). Timed by Chromium's own performance timeline: the largest contentful
// paint (the table), and the console's `cairn:page-rendered` mark (when the table is in the document), from
// navigation start. Target: under 1 s. Peer: a server-rendered HTML table of the same rows (the same query, no
// script), served by node:http from this process: the least any page showing them can do.
// Two cases: the page as it opens (the newest 200) and with every run (?limit=1000). Medians of BENCH_REPS (5),
// interleaved. --smoke: 100 runs, one repetition. Needs PostgreSQL (DATABASE_URL; the database
// cairn_bench_console is created here) and Debian's chromium (apt-get install -y chromium).
import { existsSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { chromium } from 'playwright-core';
import type { Browser } from 'playwright-core';
import { ensureBuilt, startConsole } from '../console/server.js';
import { loadConfig } from '../lib/config/index.js';
import { ensureDatabase, migrate } from '../lib/db/migrate.js';
import { createPool } from '../lib/db/pool.js';
import type { Pool } from '../lib/db/pool.js';
import { createLogger } from '../lib/logging/logger.js';
import { runMain } from '../lib/process/main.js';
import { listRuns } from '../lib/tracking/queries.js';
import { interleave, needStack, report, sized, stats } from './harness.js';
import type { Row, Sample } from './harness.js';

const RUNS = sized('BENCH_RUNS', 1000, 100);
const REPS = sized('BENCH_REPS', 5, 1);
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const DATABASE = 'cairn_bench_console';
const TARGET_MS = 1000;

/** `count` finished runs of three pipelines, one minute apart, with their stages (what a busy week leaves). */
async function seed(db: Pool, count: number): Promise<void> {
  await db.query(`DELETE FROM cairn.run_stages WHERE run_id LIKE 'bench-run-%'`);
  await db.query(`DELETE FROM cairn.runs WHERE id LIKE 'bench-run-%'`);
  await db.query(
    `INSERT INTO cairn.runs (id, pipeline, pipeline_version, trigger, status, config, config_digest, code_commit,
       code_dirty, dataset_digest, model_name, model_version, cpu_seconds, cost, started_at, ended_at, workflow_id,
       execution_id)
     SELECT 'bench-run-' || i, (ARRAY['flight-delays', 'penguins', 'churn'])[1 + i % 3], '1',
       (ARRAY['manual', 'schedule', 'retrain'])[1 + i % 3], CASE WHEN i % 17 = 0 THEN 'failed' ELSE 'succeeded' END,
       jsonb_build_object('rounds', 100, 'seed', i), 'sha256:' || md5(i::text) || md5(i::text), md5(i::text), false,
       'sha256:' || md5((i / 10)::text) || md5((i / 10)::text), (ARRAY['flight-delays', 'penguins', 'churn'])[1 + i % 3],
       1 + i / 3, 12.5, 0.001, now() - (i || ' minutes')::interval, now() - (i || ' minutes')::interval + interval '40 s',
       'bench-run-' || i, md5(i::text)
     FROM generate_series(1, $1) AS i`,
    [count]
  );
  await db.query(
    `INSERT INTO cairn.run_stages (run_id, stage, status, attempt, wall_ms, cpu_ms, started_at, ended_at)
     SELECT r.id, s, 'succeeded', 1, 5000, 4000, r.started_at, r.ended_at
     FROM cairn.runs r, unnest(ARRAY['ingest', 'validate', 'transform', 'train', 'evaluate', 'package', 'register']) s`
  );
}

const escape = (s: unknown) =>
  String(s ?? '–').replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

/** The peer: the same rows as a plain server-rendered table. */
async function startPeer(db: Pool): Promise<{ url: string; close: () => void }> {
  const server = createServer((request, response) => {
    const limit = Number(new URL(request.url!, 'http://x').searchParams.get('limit') ?? 200);
    void listRuns(db, { limit }).then((runs) => {
      const rows = runs
        .map(
          (r) =>
            `<tr><td><a href="/runs/${escape(r.id)}">${escape(r.id)}</a></td><td>${escape(r.pipeline)}</td>` +
            `<td>${escape(r.status)}</td><td>${escape(r.trigger)}</td><td>${escape(r.modelName)}@${escape(r.modelVersion)}</td>` +
            `<td>${r.startedAt.toISOString()}</td><td>${r.cpuSeconds}</td></tr>`
        )
        .join('');
      response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      response.end(`<!doctype html><html><head><meta charset="utf-8"><title>runs</title></head><body><h1>Runs</h1>
        <table class="runs"><thead><tr><th>run</th><th>pipeline</th><th>status</th><th>trigger</th><th>model</th>
        <th>started</th><th>cpu s</th></tr></thead><tbody>${rows}</tbody></table></body></html>`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => server.close() };
}

interface Paint extends Sample {
  /** The page's own mark: the table is in the document (ours only). */
  renderedMs?: number;
}

/** Opens `url` in a fresh context; the largest contentful paint once `rows` table rows are there. */
async function paint(browser: Browser, url: string, rows: number): Promise<Paint> {
  const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
  try {
    const page = await context.newPage();
    await page.goto(url);
    await page.waitForFunction(`document.querySelectorAll('table.runs tbody tr').length === ${rows}`);
    // In the page (browser code, as text: this file is typed for Node): a frame later, so the table's paint is
    // recorded, then the last largest-contentful-paint entry and the console's mark.
    const timing = (await page.evaluate(`new Promise((resolve) => requestAnimationFrame(() => setTimeout(() =>
      new PerformanceObserver((list) => resolve({
        lcp: list.getEntries().at(-1).startTime,
        rendered: performance.getEntriesByName('cairn:page-rendered')[0]?.startTime,
      })).observe({ type: 'largest-contentful-paint', buffered: true }), 50)))`)) as { lcp: number; rendered?: number };
    return { ms: timing.lcp, ...(timing.rendered === undefined ? {} : { renderedMs: timing.rendered }) };
  } finally {
    await context.close();
  }
}

runMain('bench-console', async () => {
  if (!existsSync(CHROMIUM))
    throw Object.assign(new Error(`${CHROMIUM} is missing: apt-get install -y chromium`), { userFacing: true });
  const base = loadConfig();
  await needStack(base, ['postgres']);
  const url = new URL(base.database.url);
  url.pathname = `/${DATABASE}`;
  await ensureDatabase(url.href);
  await migrate(url.href);
  const config = { ...base, logLevel: 'warn' as const, database: { ...base.database, url: url.href } };
  const logger = createLogger(config);
  const db = createPool(config, logger);
  await seed(db, RUNS);
  await ensureBuilt(logger);
  const ours = await startConsole({
    db,
    logger,
    links: { temporal: 'http://127.0.0.1:8233' },
    host: '127.0.0.1',
    port: 0,
  });
  const peer = await startPeer(db);
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu'] });
  try {
    const shown = Math.min(200, RUNS);
    const samples = await interleave(
      {
        ours: () => paint(browser, `${ours.url}/runs`, shown),
        peer: () => paint(browser, `${peer.url}/runs`, shown),
        oursAll: () => paint(browser, `${ours.url}/runs?limit=${RUNS}`, RUNS),
        peerAll: () => paint(browser, `${peer.url}/runs?limit=${RUNS}`, RUNS),
      },
      REPS
    );
    const ms = (name: string) => stats(samples[name]!.map((s) => s.ms));
    const row = (metric: string, a: string, b: string): Row => ({
      metric,
      ours: ms(a),
      peer: ms(b),
      peerName: 'server-rendered HTML table',
      unit: 'ms',
      ratio: ms(a).median / ms(b).median,
      ratioMeaning: `paint ours/peer, lower is better; target ours < ${TARGET_MS} ms`,
    });
    const rows = [
      row(`runs page, newest ${shown} of ${RUNS} runs: largest contentful paint`, 'ours', 'peer'),
      row(`runs page, all ${RUNS} runs: largest contentful paint`, 'oursAll', 'peerAll'),
    ];
    const rendered = stats(samples.ours!.map((s) => (s as Paint).renderedMs ?? NaN)).median;
    report('console', rows, { runs: RUNS, renderedMs: rendered });
    const first = rows[0]!.ours.median;
    process.stdout.write(
      `target: first meaningful paint of the runs page with ${RUNS} runs ${first.toFixed(0)} ms < ${TARGET_MS} ms ` +
        `${first < TARGET_MS ? 'met' : 'MISSED'} (the table was in the document at ${rendered.toFixed(0)} ms)\n`
    );
  } finally {
    await browser.close();
    peer.close();
    await ours.app.close();
    await db.end();
  }
});
