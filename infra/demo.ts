// The quick-start demo: the whole lifecycle on real data. Brings the stack up (services, workers, online server),
// publishes the flights of January and February 2001 as monthly Parquet parts in the object store, trains
// flight-delays on that prefix, releases it through the checklist and an approval, serves June flights to it, lets
// March to June land in the store, and shows the monitor finding the drift and the retraining it starts, which reads
// the new months (only those: the prefix is read incrementally) and waits for an approval of its own. Extra arguments
// are training config overrides: `npm run demo -- rounds=50`.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ScheduleAlreadyRunning } from '@temporalio/client';
import type { Client } from '@temporalio/client';
import { asyncBufferFromFile, parquetReadObjects } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';
import { formatReport } from '../cli/monitor.js';
import { durationMs } from '../lib/config/duration.js';
import { consolePage, describeFailure, printResult, uiLink, watchRun } from '../cli/training.js';
import { createToken } from '../lib/auth/tokens.js';
import { createPruneSchedule } from '../lib/temporal/schedules.js';
import type { Role } from '../lib/auth/tokens.js';
import { loadConfig } from '../lib/config/index.js';
import type { CairnConfig } from '../lib/config/index.js';
import { createPool } from '../lib/db/pool.js';
import type { Pool } from '../lib/db/pool.js';
import { latestReports } from '../lib/monitoring/reports.js';
import { parseSets, resolveSourcePath } from '../lib/pipeline/run-config.js';
import { runMain } from '../lib/process/main.js';
import { connectClient } from '../lib/temporal/connection.js';
import type { lifecycle } from '../workflows/lifecycle.js';
import { decideUpdate, statusQuery } from '../workflows/messages.js';
import { checkNowSignal } from '../workflows/monitor-model.js';
import type { trainingPipeline } from '../workflows/training-pipeline.js';
import { processesUp, stackUp } from './stack.js';
import { createArtifactStore } from '../lib/artifacts/index.js';
import { S3ArtifactStore } from '../lib/artifacts/s3-store.js';
import { readParquet } from '../lib/data/read-parquet.js';
import type { DatasetManifest } from '../lib/data/snapshot.js';
import type { Table } from '../lib/data/table.js';
import { tableParquet } from '../lib/data/write-parquet.js';
import { getDataset } from '../lib/tracking/queries.js';

const say = (line = '') => void process.stdout.write(`${line}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const PIPELINE = 'flight-delays';
const DEMO = 'demo';

/**
 * The demo's tokens, made once and kept under <home>/secrets (mode 0600): `demo-token` for the demo principal
 * (approver and predict on every model) and `admin-token` for the stack's owner (tokens, schedules).
 */
async function demoTokens(db: Pool, config: CairnConfig): Promise<{ demo: string; adminFile: string }> {
  const dir = join(config.home, 'secrets');
  const kept = async (name: string, principal: string, roles: Role[]) => {
    const path = join(dir, name);
    if (!existsSync(path)) {
      const { token } = await createToken(db, principal, roles, { lifetimeMs: null, by: 'demo' });
      mkdirSync(dir, { recursive: true });
      writeFileSync(path, `${token}\n`, { mode: 0o600 });
    }
    return path;
  };
  const demoFile = await kept('demo-token', DEMO, ['approver:*', 'predict:*']);
  const adminFile = await kept('admin-token', `${DEMO}-admin`, ['admin']);
  return { demo: readFileSync(demoFile, 'utf8').trim(), adminFile };
}

async function stageOf(client: Client, workflowId: string): Promise<string | undefined> {
  return (
    await client.workflow
      .getHandle(workflowId)
      .query(statusQuery)
      .catch(() => undefined)
  )?.stage;
}

async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, ms: number): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const value = await fn();
    if (value !== undefined) return value;
    if (Date.now() > end) throw new Error(`demo: gave up waiting for ${what}`);
    await sleep(500);
  }
}

/**
 * Waits for a human decision on a release. On a terminal the demo waits for you; in CI (or with no terminal) the
 * demo principal approves, and says so.
 */
async function approval(client: Client, config: CairnConfig, releaseId: string, token: string): Promise<void> {
  await waitFor(
    'the release checklist',
    async () => ((await stageOf(client, releaseId)) === 'awaiting-approval' ? true : undefined),
    120_000
  );
  const tokenFile = join(config.home, 'secrets', 'demo-token');
  say(`\n${releaseId} passed its checklist and waits for an approval. Approve it with either of:`);
  say(`  npm run cairn -- --token-file ${tokenFile} approve ${releaseId}`);
  say(
    `  temporal workflow signal --workflow-id ${releaseId} --name approve -i "{\\"token\\":\\"$(cat ${tokenFile})\\"}"`
  );
  if (process.stdin.isTTY && !process.env.CI) {
    say('waiting for your decision…');
    await waitFor(
      'a decision',
      async () => ((await stageOf(client, releaseId)) !== 'awaiting-approval' ? true : undefined),
      24 * 3_600_000
    );
    return;
  }
  const d = await client.workflow.getHandle(releaseId).executeUpdate(decideUpdate, {
    args: [{ decision: 'approve', token, comment: 'approved by the demo (no terminal to ask)' }],
  });
  say(`(no terminal: approved as ${d.by} at ${d.at})`);
}

/** The store prefix the demo publishes the flights to, one Parquet part a month (`month=2001-01/part-0.parquet`). */
const prefix = (config: CairnConfig) => `s3://${config.store.bucket}/data/flights-demo`;
const monthKey = (month: number) => `data/flights-demo/month=2001-${String(month).padStart(2, '0')}/part-0.parquet`;

/**
 * Publishes `months` of flights-3m.parquet as Parquet parts under the demo's prefix, and removes the later months a
 * previous demo published: January and February first, March to June later, as data lands month by month.
 */
async function publishMonths(config: CairnConfig, months: number[]): Promise<void> {
  const store = createArtifactStore(config);
  if (!(store instanceof S3ArtifactStore)) throw new Error('demo: the monthly parts need an S3 store (store.kind s3)');
  flights ??= await byMonth();
  for (let month = 1; month <= 6; month++) {
    if (months.includes(month))
      await store.client.putObject(store.bucket, monthKey(month), tableParquet(flights.table, flights.rows[month]!));
    else if (month > Math.max(...months)) await store.client.removeObject(store.bucket, monthKey(month));
  }
}
let flights: { table: Table; rows: number[][] } | undefined;

/** flights-3m.parquet, and its row numbers by month (1-6), in file order. */
async function byMonth(): Promise<{ table: Table; rows: number[][] }> {
  const table = await readParquet(resolveSourcePath('npm:vega-datasets/data/flights-3m.parquet'));
  const dates = table.columns.date!;
  if (dates.type !== 'timestamp') throw new Error('demo: flights.date is not a timestamp column');
  const rows: number[][] = Array.from({ length: 13 }, () => []);
  for (let r = 0; r < table.rowCount; r++) rows[new Date(dates.values[r]!).getUTCMonth() + 1]!.push(r);
  return { table, rows };
}

/** June 2001 flights, as callers send them to the server (no `delay`: that is what it predicts). */
async function juneFlights(count: number) {
  const file = await asyncBufferFromFile(resolveSourcePath('npm:vega-datasets/data/flights-3m.parquet'));
  const rows = await parquetReadObjects({ file, rowStart: 2_600_000, rowEnd: 2_600_000 + count, compressors });
  return rows.map((r) => ({
    row: {
      date: (r.date as Date).toISOString(),
      distance: Number(r.distance),
      origin: String(r.origin),
      destination: String(r.destination),
    },
    delay: Number(r.delay),
  }));
}

/** Sends `flights` to the online server, then their real delays as feedback: what a client would do later. */
async function serve(
  config: CairnConfig,
  token: string,
  version: number,
  flights: Awaited<ReturnType<typeof juneFlights>>
) {
  const base = `http://${config.serving.host}:${config.serving.port}/v1/models/${PIPELINE}`;
  const headers = { 'content-type': 'application/json', authorization: `Bearer ${token}` };
  // The server picks a deployment change up within its reload interval.
  await waitFor(
    'the server to load the release',
    async () => {
      const res = await fetch(`http://${config.serving.host}:${config.serving.port}/v1/models`, { headers });
      const { models } = (await res.json()) as { models?: { model: string; stable: number }[] };
      return models?.some((m) => m.model === PIPELINE && m.stable === version) ? true : undefined;
    },
    30_000
  );
  let labelled = 0;
  for (let i = 0; i < flights.length; i += 500) {
    const batch = flights.slice(i, i + 500);
    const res = await fetch(`${base}/predict`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ rows: batch.map((f) => f.row) }),
    });
    if (res.status !== 200) throw new Error(`demo: predict answered ${res.status}: ${await res.text()}`);
    const { predictions } = (await res.json()) as { predictions: { id: string }[] };
    const feedback = predictions.map((p, j) => ({ predictionId: p.id, label: batch[j]!.delay }));
    const fb = await fetch(`${base}/feedback`, { method: 'POST', headers, body: JSON.stringify({ feedback }) });
    labelled += ((await fb.json()) as { stored?: number }).stored ?? 0;
  }
  return labelled;
}

runMain('demo', async () => {
  const config = loadConfig();
  const overrides = parseSets(process.argv.slice(2));
  await stackUp(config);
  await processesUp(config);
  const db = createPool(config);
  const client = await connectClient(config);
  try {
    const { demo: token, adminFile } = await demoTokens(db, config);
    // The prediction log's retention is enforced by a schedule of its own (`cairn schedule prune-logs`).
    await createPruneSchedule(client, { taskQueue: config.temporal.taskQueue }).catch((err: unknown) => {
      if (!(err instanceof ScheduleAlreadyRunning)) throw err;
    });
    await publishMonths(config, [1, 2]);
    say(`\n0. flights of January and February 2001 published as monthly Parquet parts under ${prefix(config)}`);
    const id = `lifecycle-${PIPELINE}-${Date.now().toString(36)}`;
    const handle = await client.workflow.start<typeof lifecycle>('lifecycle', {
      taskQueue: config.temporal.taskQueue,
      workflowId: id,
      args: [{ pipeline: PIPELINE, config: { source: prefix(config), ...overrides }, requestedBy: DEMO }],
    });
    say(`\n1. lifecycle ${id}: train, then release (${uiLink(config, id)})`);
    const training = client.workflow.getHandle<typeof trainingPipeline>(`${id}-train`);
    await waitFor(
      'the training run',
      async () =>
        await training
          .describe()
          .then(() => true)
          .catch(() => undefined),
      60_000
    );
    const trained = await watchRun(training).catch((err: unknown) => {
      throw new Error(describeFailure(err));
    });
    printResult(trained);
    if (!trained.gate.passed) return say('\nThe model failed its gate: nothing is released.');

    const releaseId = `release-${PIPELINE}-v${trained.model.version}-production`;
    say(`\n2. release ${releaseId}: checklist, then a human decision`);
    await approval(client, config, releaseId, token);
    const { release } = await handle.result();
    say(`${release!.status}: ${release!.outcome}`);

    say(
      `\n3. serving June flights to a model trained on January-February (http://${config.serving.host}:${config.serving.port})`
    );
    const flights = await juneFlights(20_000);
    const labelled = await serve(config, token, release!.version, flights);
    say(
      `   ${flights.length} flights predicted; ${labelled} of the sampled predictions got their real delay as feedback`
    );

    await publishMonths(config, [3, 4, 5, 6]);
    say(
      `\n4. March to June land under ${prefix(config)}; the monitor checks the window (cairn monitor check, instead of`
    );
    say('   waiting for its hourly interval)');
    const monitorId = `monitor-${PIPELINE}-production`;
    await sleep(durationMs(config.serving.flushInterval) + 1000);
    const before = (await latestReports(db, PIPELINE, 'production'))[0]?.id ?? 0;
    const monitor = client.workflow.getHandle(monitorId);
    await monitor.signal(checkNowSignal);
    const stored = await waitFor(
      'the report',
      async () => {
        const [r] = await latestReports(db, PIPELINE, 'production');
        return r && r.id > before ? r : undefined;
      },
      300_000
    );
    // An alert's retraining is requested after the report is stored: the report is final once the monitor has taken
    // this check in and is watching again.
    await waitFor(
      'the monitor to finish the check',
      async () => {
        const s = await monitor.query(statusQuery).catch(() => undefined);
        return s && s.stage === 'watching' && Number(s.results.seq) >= stored.seq ? true : undefined;
      },
      120_000
    );
    const report = (await latestReports(db, PIPELINE, 'production', 10)).find((r) => r.id === stored.id) ?? stored;
    say(formatReport(report.report, report.retrainId));

    if (report.retrainId) {
      say(
        `\n5. ${report.retrainId} retrains ${PIPELINE}; its release will wait for an approval, never promote by itself`
      );
      const retrain = await waitFor(
        'the retraining to reach its release',
        async () => {
          const s = await client.workflow
            .getHandle(report.retrainId!)
            .query(statusQuery)
            .catch(() => undefined);
          return s?.stage === 'release' || s?.stage === 'done' ? s : undefined;
        },
        900_000
      );
      const retrained = retrain.results.training as
        | { dataset: string; model: { version: number | null }; gate: { passed: boolean; reasons: string[] } }
        | undefined;
      const version = retrained?.gate.passed ? retrained.model.version : null;
      if (retrained) {
        const [dataset] = await getDataset(db, retrained.dataset);
        const manifest = await createArtifactStore(config).getJson<DatasetManifest>(dataset!.manifestDigest);
        say(
          `   it trained on ${manifest.rowCount.toLocaleString('en-US')} flights (dataset ${manifest.digest.slice(0, 19)}…), reading only the new months:`
        );
        for (const key of manifest.source.newParts ?? []) say(`     ${key}`);
      }
      if (version) {
        const next = `release-${PIPELINE}-v${version}-production`;
        await waitFor(
          'the retrained release',
          async () => ((await stageOf(client, next)) === 'awaiting-approval' ? true : undefined),
          120_000
        );
        say(
          `   ${PIPELINE}@${version} waits for approval: npm run cairn -- --token-file ${join(config.home, 'secrets', 'demo-token')} approve ${next}`
        );
      } else
        say(
          `   the retrained model failed its gate (${retrained?.gate.reasons.join('; ') ?? 'no result'}): nothing to release, the champion keeps serving`
        );
    }
    say(
      [
        '',
        `Temporal UI: ${uiLink(config, id)}  (query: CairnModel = "${PIPELINE}")`,
        `Console:     npm run cairn -- ui  # then open ${consolePage(config, 'monitoring', PIPELINE, 'production')}`,
        `Predict:     curl -s -H "authorization: Bearer $(cat ${join(config.home, 'secrets', 'demo-token')})" -H 'content-type: application/json' \\`,
        `               -d '{"row":{"date":"2001-06-07T08:04:00Z","distance":1536,"origin":"LAX","destination":"MSP"}}' \\`,
        `               http://${config.serving.host}:${config.serving.port}/v1/models/${PIPELINE}/predict`,
        `More:        npm run cairn -- deployments list | monitor report flight-delays | lineage ${PIPELINE}@<version>`,
        `             npm run cairn -- --token-file ${adminFile} schedule create flight-delays --cron "0 3 * * 1" --set source=${prefix(config)}`,
        'The stack keeps running; `npm run stack:down` stops everything.',
        '',
      ].join('\n')
    );
  } finally {
    await client.connection.close();
    await db.end();
  }
});
