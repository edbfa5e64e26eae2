import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readParquet } from '../../lib/data/read-parquet.js';
import { datasetDigest } from '../../lib/data/snapshot.js';
import { createSources } from '../../lib/data/sources/index.js';
import type { Sources } from '../../lib/data/sources/index.js';
import { DataReadError } from '../../lib/data/table.js';
import type { Table } from '../../lib/data/table.js';
import { tableParquet } from '../../lib/data/write-parquet.js';
import { resolveSourcePath } from '../../lib/pipeline/run-config.js';
import { services } from '../helpers/services.js';
import { useServices, withWorker } from '../helpers/temporal.js';
import type { DatasetManifest } from '../../lib/data/snapshot.js';
import { createRetrainSchedule } from '../../lib/temporal/schedules.js';
import { getDataset } from '../../lib/tracking/queries.js';
import { formatLineage, lineageOf } from '../../cli/registry.js';
import { statusQuery } from '../../workflows/messages.js';
import { trainingPipeline } from '../../workflows/training-pipeline.js';
import type { TrainingPipelineResult } from '../../workflows/training-pipeline.js';

const ctx = useServices();
const { deps } = ctx;

/** Every 20th flight of January to June 2001: 150,000 rows, about 25,000 a month. */
const EVERY = 20;
const MONTHS = 6;
let flights: Table;
let rows: number[];
let dir: string;
let singleFile: string;
let prefix: string;
let bucket: string;
let sources: Sources;
const http = createServer((req, res) => {
  if (req.url === '/flights.parquet') createReadStream(singleFile).pipe(res.writeHead(200));
  else res.writeHead(404).end();
});
let base: string;

const monthOf = (ms: number) => new Date(ms).getUTCMonth() + 1;
/** A number or timestamp column of the flights. */
const numbers = (name: string): Float64Array => {
  const column = flights.columns[name]!;
  if (column.type !== 'number' && column.type !== 'timestamp') throw new Error(`${name} is not numeric`);
  return column.values;
};
/** The key of a month's part: keys sort by month, so the prefix reads in time order. */
const partKey = (month: number, at = prefix) => `${at}/month=2001-0${month}/part-0.parquet`;

beforeAll(async () => {
  flights = await readParquet(resolveSourcePath('npm:vega-datasets/data/flights-3m.parquet'));
  rows = [];
  for (let r = 0; r < flights.rowCount; r += EVERY) rows.push(r);
  dir = await mkdtemp(join(tmpdir(), 'cairn-sources-'));
  singleFile = join(dir, 'flights.parquet');
  await writeFile(singleFile, tableParquet(flights, rows));
  bucket = services().s3.bucket;
  prefix = `data/sources-${randomUUID().slice(0, 8)}/flights`;
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  sources = createSources({
    roots: ['npm:', dir, `s3://${bucket}/data`, services().databaseUrl, `${base}/`],
    resolvePath: resolveSourcePath,
    s3: deps.store.client,
    tmpDir: join(dir, 'tmp'),
  });
}, 120_000);

afterAll(async () => {
  http.close();
  await rm(dir, { recursive: true, force: true });
});

/** Puts one month's rows (in file order) as a Parquet part under the prefix. */
async function putMonth(month: number, at = prefix) {
  const part = tableParquet(
    flights,
    rows.filter((r) => monthOf(numbers('date')[r]!) === month)
  );
  await deps.store.client.putObject(bucket, partKey(month, at), part);
}

describe('data sources', () => {
  it('an s3:// prefix of 6 monthly Parquet parts is the same dataset as the single file of the same rows, read incrementally too', async () => {
    const single = await sources.read({ path: singleFile });
    expect(single.table.rowCount).toBe(rows.length);
    const digest = datasetDigest(single.table);

    for (let month = 1; month < MONTHS; month++) await putMonth(month);
    const uri = `s3://${bucket}/${prefix}`;
    const fiveMonths = await sources.read({ path: uri, incremental: true });
    expect(fiveMonths.source.parts!.map((p) => p.key)).toEqual([1, 2, 3, 4, 5].map((m) => partKey(m)));
    expect(fiveMonths.source.newParts).toBeUndefined();
    const before = await sources.fingerprint({ path: uri });

    // June lands: the prefix's fingerprint changes, and only June is read, appended to the previous snapshot.
    await putMonth(MONTHS);
    expect((await sources.fingerprint({ path: uri }))!.digest).not.toBe(before!.digest);
    const incremental = await sources.read(
      { path: uri, incremental: true },
      { table: async () => fiveMonths.table, source: fiveMonths.source }
    );
    expect(incremental.source.newParts).toEqual([partKey(MONTHS)]);
    expect(incremental.source.parts).toHaveLength(MONTHS);
    expect(datasetDigest(incremental.table)).toBe(digest);

    // Read whole, the same.
    const whole = await sources.read({ path: uri });
    expect(whole.source.newParts).toBeUndefined();
    expect(datasetDigest(whole.table)).toBe(digest);
    expect(whole.table.rowCount).toBe(rows.length);

    // A part rewritten under its old key is not the part the previous snapshot read: read everything again.
    await putMonth(1);
    const changed = await sources.read(
      { path: uri, incremental: true },
      {
        table: async () => fiveMonths.table,
        source: { ...fiveMonths.source, parts: fiveMonths.source.parts!.map((p) => ({ ...p, etag: 'old' })) },
      }
    );
    expect(changed.source.newParts).toBeUndefined();
    expect(datasetDigest(changed.table)).toBe(digest);
  }, 120_000);

  it('a postgres:// query is read through a cursor in batches and gives the same dataset as the file of its rows', async () => {
    const table = `flights_${randomUUID().slice(0, 8)}`;
    const db = new pg.Client({ connectionString: services().databaseUrl });
    await db.connect();
    try {
      await db.query(
        `CREATE TABLE ${table} (id int PRIMARY KEY, date timestamp, delay int, distance int, origin text, destination text)`
      );
      const n = 25_000;
      const col = (name: string) => flights.columns[name]!;
      for (let start = 0; start < n; start += 5000) {
        const values: unknown[] = [];
        const tuples: string[] = [];
        for (let i = start; i < Math.min(n, start + 5000); i++) {
          const r = rows[i]!;
          const origin = col('origin');
          const destination = col('destination');
          if (origin.type !== 'string' || destination.type !== 'string') throw new Error('string columns expected');
          values.push(
            i,
            new Date(numbers('date')[r]!).toISOString().replace('Z', ''),
            numbers('delay')[r],
            numbers('distance')[r],
            origin.dictionary[origin.codes[r]!],
            destination.dictionary[destination.codes[r]!]
          );
          const k = tuples.length * 6;
          tuples.push(`($${k + 1}, $${k + 2}, $${k + 3}, $${k + 4}, $${k + 5}, $${k + 6})`);
        }
        await db.query(`INSERT INTO ${table} VALUES ${tuples.join(', ')}`, values);
      }
      const query = `SELECT date, delay, distance, origin, destination FROM ${table} ORDER BY id`;
      const read = await sources.read({ path: services().databaseUrl, query });
      const file = await sources.read({ path: singleFile, limit: n });
      expect(read.table.rowCount).toBe(n);
      expect(read.table.names).toEqual(['date', 'delay', 'distance', 'origin', 'destination']);
      expect(datasetDigest(read.table)).toBe(datasetDigest(file.table));
      expect(read.source.sha256).toBe(datasetDigest(read.table));
      expect(await sources.fingerprint({ path: services().databaseUrl, query })).toBeUndefined();

      // A limit stops the cursor early; a bad query names the database, not its password.
      expect((await sources.read({ path: services().databaseUrl, query, limit: 12_345 })).table.rowCount).toBe(12_345);
      const bad = await sources
        .read({ path: services().databaseUrl, query: `SELECT nope FROM ${table}` })
        .catch((e: unknown) => e);
      expect(bad).toBeInstanceOf(DataReadError);
      expect((bad as Error).message).toMatch(/the query failed: column "nope" does not exist/);
    } finally {
      await db.query(`DROP TABLE IF EXISTS ${table}`);
      await db.end();
    }
  }, 120_000);

  it('an http(s) URL is downloaded to scratch and read by its format; a 404 is a clear, non-retryable error', async () => {
    const read = await sources.read({ path: `${base}/flights.parquet` });
    const file = await sources.read({ path: singleFile });
    expect(datasetDigest(read.table)).toBe(datasetDigest(file.table));
    expect(read.source.sha256).toBe(file.source.sha256);
    const missing = await sources.read({ path: `${base}/nope.parquet` }).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(DataReadError);
    expect((missing as Error).message).toContain('nope.parquet: answered 404');
  });

  it('refuses a source outside the allowed roots, naming them, and an npm: path that leaves its package', async () => {
    const roots = `npm:, ${dir}, s3://${bucket}/data, ${services().databaseUrl}, ${base}/`;
    const refused = async (path: string, query?: string) => {
      const err = await sources.read({ path, ...(query ? { query } : {}) }).catch((e: unknown) => e);
      expect(err, path).toBeInstanceOf(DataReadError);
      return (err as Error).message;
    };
    expect(await refused('/etc/passwd')).toBe(
      `/etc/passwd: outside the allowed data roots (${roots}); add a root to data.roots (CAIRN_DATA_ROOTS) to read it`
    );
    expect(await refused(join(dir, '..', 'elsewhere.parquet'))).toContain('outside the allowed data roots');
    expect(await refused(`s3://${bucket}/artifacts/x`)).toContain('outside the allowed data roots');
    expect(await refused(`s3://${bucket}/database/x`)).toContain('outside the allowed data roots');
    expect(await refused('postgres://postgres@127.0.0.1:5432/other', 'SELECT 1')).toMatch(
      /^postgres:\/\/postgres@127\.0\.0\.1:5432\/other: outside the allowed data roots/
    );
    expect(await refused('http://127.0.0.1:1/flights.parquet')).toContain('outside the allowed data roots');
    expect(await refused('npm:vega-datasets/../../package.json')).toMatch(/the path leaves its package/);
  });

  it('a scheduled retraining after a new month lands trains on it: the dataset changes, and lineage names the new part', async () => {
    const at = `data/retrain-${randomUUID().slice(0, 8)}/flights`;
    const uri = `s3://${bucket}/${at}`;
    for (let month = 1; month < MONTHS; month++) await putMonth(month, at);
    // A model and an environment of its own: other files' flight-delays champions are not this one's.
    const model = `monthly-${randomUUID().slice(0, 8)}`;
    const environment = model;
    const config = { source: uri, rounds: 10 };
    await withWorker(deps, async (taskQueue) => {
      const first = await ctx.client.workflow.execute(trainingPipeline, {
        taskQueue,
        workflowId: `monthly-${randomUUID()}`,
        args: [{ pipeline: 'flight-delays', model, config }],
      });
      const before = await deps.store.getJson<DatasetManifest>(
        (await getDataset(deps.db, first.dataset))[0]!.manifestDigest
      );
      expect(before.source.parts!.map((p) => p.key)).toEqual([1, 2, 3, 4, 5].map((m) => partKey(m, at)));

      await putMonth(MONTHS, at);
      const schedule = await createRetrainSchedule(ctx.client, {
        pipeline: 'flight-delays',
        model,
        cron: '0 3 * * 1',
        taskQueue,
        scheduleId: `monthly-${randomUUID().slice(0, 8)}`,
        environment,
        config,
      });
      try {
        await schedule.trigger();
        let runId: string | undefined;
        for (let i = 0; i < 300 && !runId; i++) {
          runId = (await schedule.describe()).info.recentActions[0]?.action.workflow.workflowId;
          if (!runId) await new Promise((r) => setTimeout(r, 200));
        }
        const run = ctx.client.workflow.getHandle(runId!);
        let training: TrainingPipelineResult | undefined;
        for (let i = 0; i < 600 && !training; i++) {
          training = (await run.query(statusQuery)).results.training as TrainingPipelineResult | undefined;
          if (!training) await new Promise((r) => setTimeout(r, 200));
        }
        expect(training!.model.name).toBe(model);
        expect(training!.dataset).not.toBe(first.dataset);
        const [dataset] = await getDataset(deps.db, training!.dataset);
        const manifest = await deps.store.getJson<DatasetManifest>(dataset!.manifestDigest);
        expect(manifest.source.newParts).toEqual([partKey(MONTHS, at)]);
        expect(manifest.rowCount).toBe(rows.length);
        // The same rows as the single file: the retraining saw every month, June included.
        expect(training!.dataset).toBe(datasetDigest((await sources.read({ path: singleFile })).table));
        const lineage = formatLineage(await lineageOf(deps.db, deps.store, `${model}@${training!.model.version}`));
        expect(lineage).toContain(`source ${uri}  6 parts, 1 new`);
        expect(lineage).toContain(`${partKey(MONTHS, at)}  (new)`);
        // Its release waits for an approval (or was refused, no approver existing): either way, nothing more to see.
        await run.terminate('test over').catch(() => undefined);
      } finally {
        await schedule.delete();
      }
    });
  }, 300_000);
});
