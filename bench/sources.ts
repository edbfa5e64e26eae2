// Sources: peak RSS and time of reading all 3,000,000 flights from PostgreSQL with Cairn's postgres:// source (a
// server-side cursor, 10,000 rows per FETCH, appended to column builders), against the plain way with the same
// driver (one `SELECT`, every row an object, then a table from those rows), each in a fresh process. Target: ours
// < 1 GiB. The rows are loaded once into a table `cairn_bench_flights` of the configured database (DATABASE_URL).
// BENCH_REPS (default 5), BENCH_ROWS (default 3,000,000); --smoke: 1 repetition on 20,000 rows, in a table of its own
// (`cairn_bench_flights_smoke`, so that a smoke run does not replace the full run's rows).
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { loadConfig } from '../lib/config/index.js';
import { readParquet } from '../lib/data/read-parquet.js';
import { tableFromRows } from '../lib/data/read-json.js';
import { datasetDigest } from '../lib/data/snapshot.js';
import { createSources } from '../lib/data/sources/index.js';
import type { Table } from '../lib/data/table.js';
import { resolveSourcePath } from '../lib/pipeline/run-config.js';
import { runMain } from '../lib/process/main.js';
import { interleave, needStack, report, sized, SMOKE, stats } from './harness.js';

const REPS = sized('BENCH_REPS', 5, 1);
const ROWS = sized('BENCH_ROWS', 3_000_000, 20_000);
const SELF = fileURLToPath(import.meta.url);
const TABLE = SMOKE ? 'cairn_bench_flights_smoke' : 'cairn_bench_flights';
const query = (table: string) => `SELECT date, delay, distance, origin, destination FROM ${table} ORDER BY id`;
const TARGET_MIB = 1024;

interface Sample {
  ms: number;
  peakRssMiB: number;
  rows: number;
  digest: string;
}

/** Loads the first ROWS flights into the table once (arrays through unnest, 100,000 rows a statement). */
async function prepare(url: string): Promise<void> {
  const db = new pg.Client({ connectionString: url });
  await db.connect();
  try {
    const exists = await db.query<{ n: string }>(`SELECT count(*) AS n FROM ${TABLE}`).catch(() => undefined);
    if (Number(exists?.rows[0]?.n ?? -1) === ROWS) return;
    process.stdout.write(`loading ${ROWS.toLocaleString('en-US')} flights into ${TABLE}\n`);
    await db.query(`DROP TABLE IF EXISTS ${TABLE}`);
    await db.query(
      `CREATE TABLE ${TABLE} (id int PRIMARY KEY, date timestamp, delay int, distance int, origin text, destination text)`
    );
    const flights = await readParquet(resolveSourcePath('npm:vega-datasets/data/flights-3m.parquet'), { limit: ROWS });
    const col = (name: string) => flights.columns[name]!;
    const text = (name: string, i: number) => {
      const c = col(name);
      if (c.type !== 'string') throw new Error(`${name} is not a string column`);
      return c.dictionary[c.codes[i]!]!;
    };
    const num = (name: string, i: number) => {
      const c = col(name);
      if (c.type === 'string' || c.type === 'boolean') throw new Error(`${name} is not numeric`);
      return c.values[i]!;
    };
    for (let start = 0; start < flights.rowCount; start += 100_000) {
      const end = Math.min(flights.rowCount, start + 100_000);
      const range = Array.from({ length: end - start }, (_, k) => start + k);
      await db.query(
        `INSERT INTO ${TABLE} SELECT * FROM unnest($1::int[], $2::timestamp[], $3::int[], $4::int[], $5::text[], $6::text[])`,
        [
          range,
          range.map((i) => new Date(num('date', i)).toISOString().replace('Z', '')),
          range.map((i) => num('delay', i)),
          range.map((i) => num('distance', i)),
          range.map((i) => text('origin', i)),
          range.map((i) => text('destination', i)),
        ]
      );
    }
  } finally {
    await db.end();
  }
}

/** `child ours|plain <url> <table>`: one read in this process, printed as one JSON line. */
async function child(which: string, url: string, table: string): Promise<void> {
  const sql = query(table);
  const started = performance.now();
  let read: Table;
  if (which === 'ours') {
    const sources = createSources({ roots: [url], resolvePath: resolveSourcePath, tmpDir: '/tmp' });
    ({ table: read } = await sources.read({ path: url, query: sql }));
  } else {
    const db = new pg.Client({ connectionString: url });
    await db.connect();
    const { rows } = await db.query<Record<string, unknown>>(sql);
    await db.end();
    for (const row of rows) row.date = (row.date as Date).toISOString();
    read = tableFromRows(rows, 'query', { expectedTypes: { date: 'timestamp' } });
  }
  const sample: Sample = {
    ms: performance.now() - started,
    peakRssMiB: process.resourceUsage().maxRSS / 1024,
    rows: read.rowCount,
    digest: datasetDigest(read),
  };
  process.stdout.write(`${JSON.stringify(sample)}\n`);
}

function run(which: string, url: string): Sample {
  const out = execFileSync(process.execPath, ['--import', 'tsx', SELF, 'child', which, url, TABLE], {
    encoding: 'utf8',
    maxBuffer: 1 << 20,
  });
  return JSON.parse(out.trim().split('\n').pop()!) as Sample;
}

async function main(): Promise<void> {
  const config = loadConfig();
  await needStack(config, ['postgres']);
  const url = config.database.url;
  await prepare(url);
  const results = await interleave({ ours: async () => run('ours', url), plain: async () => run('plain', url) }, REPS);
  const ours = results.ours as Sample[];
  const plain = results.plain as Sample[];
  const rss = (xs: Sample[]) => stats(xs.map((x) => x.peakRssMiB));
  const peak = rss(ours);
  report(
    'sources',
    [
      {
        metric: `peak RSS, ${ROWS.toLocaleString('en-US')} rows from a postgres:// query`,
        ours: peak,
        peer: rss(plain),
        peerName: 'pg: one SELECT, row objects, then a table',
        unit: 'MiB',
        ratio: peak.median / rss(plain).median,
        ratioMeaning: `memory ours/peer; target ours < ${TARGET_MIB} MiB: ${peak.max < TARGET_MIB ? 'met' : 'missed'}`,
      },
      {
        metric: `read time, ${ROWS.toLocaleString('en-US')} rows`,
        ours: stats(ours.map((x) => x.ms / 1000)),
        peer: stats(plain.map((x) => x.ms / 1000)),
        peerName: 'pg: one SELECT, row objects, then a table',
        unit: 's',
        ratio: stats(ours.map((x) => x.ms)).median / stats(plain.map((x) => x.ms)).median,
        ratioMeaning: 'time ours/peer',
      },
    ],
    { rows: ROWS, targetMiB: TARGET_MIB, sameDataset: ours[0]!.digest === plain[0]!.digest }
  );
  if (ours.some((x) => x.rows !== ROWS)) throw new Error(`ours read ${ours[0]!.rows} rows, not ${ROWS}`);
  if (peak.max >= TARGET_MIB) throw new Error(`peak RSS ${peak.max.toFixed(0)} MiB: target < ${TARGET_MIB} MiB missed`);
}

if (process.argv[2] === 'child') runMain('bench', () => child(process.argv[3]!, process.argv[4]!, process.argv[5]!));
else runMain('bench', main);
