// Parquet read plus data-contract validation of flight-delays on flights-3m.parquet, in rows per second, against
// (a) hyparquet's raw decode of the same columns and nothing else (the cheapest decode found: parquetRead with
// onChunk, the whole file in memory, timestamps as numbers) and (b) an ajv-compiled JSON Schema of the same contract
// applied per row to row objects: end to end (hyparquet row objects, INT64 to numbers, ajv) and on its own over
// row objects already in memory (against our column checks over the table already in memory). One process,
// interleaved, the heap collected between runs. BENCH_REPS (default 5), BENCH_ROWS (default all 3,000,000);
// --smoke: 1 repetition of the first 100,000 rows, no profile.
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import { parquetRead, parquetReadObjects } from 'hyparquet';
import type { AsyncBuffer } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';
import { readParquet } from '../lib/data/index.js';
import type { Table } from '../lib/data/index.js';
import { resolveSourcePath } from '../lib/pipeline/run-config.js';
import { runMain } from '../lib/process/main.js';
import { checkContract } from '../lib/validate/check.js';
import { compileContract } from '../lib/validate/contract.js';
import { flightDelays } from '../pipelines/flight-delays/pipeline.js';
import { profileChild } from './cpu-profile.js';
import { interleave, report, sized, SMOKE, stats } from './harness.js';
import type { Sample } from './harness.js';

const REPS = sized('BENCH_REPS', 5, 1);
const PATH = resolveSourcePath('npm:vega-datasets/data/flights-3m.parquet');
const COLUMNS = Object.keys(flightDelays.contract.shape);
const RULES = compileContract(flightDelays.contract);
const SELF = fileURLToPath(import.meta.url);

/** The flight-delays contract as JSON Schema: what a per-row validator checks. */
const ROW_SCHEMA = {
  type: 'object',
  required: ['date', 'delay', 'distance', 'origin', 'destination'],
  properties: {
    date: { type: 'number' },
    delay: { type: 'integer', minimum: -1440, maximum: 2880 },
    distance: { type: 'integer', minimum: 1, maximum: 10_000 },
    origin: { type: 'string' },
    destination: { type: 'string' },
  },
} as const;

/** As our reader does: timestamps become milliseconds (numbers), not Date objects. */
const parsers = { timestampFromMicroseconds: (micros: bigint) => Number(micros) / 1000 };

interface FlightRow {
  date: number;
  delay: number | bigint;
  distance: number | bigint;
  origin: string;
  destination: string;
}

async function fileInMemory(): Promise<AsyncBuffer> {
  const bytes = await readFile(PATH);
  const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  return { byteLength: buffer.byteLength, slice: (start, end) => buffer.slice(start, end) };
}

/** Ours: the typed-array table and its column checks; throws if the contract does not hold (it does). */
async function oursReadAndCheck(limit: number | undefined): Promise<{ readMs: number; checkMs: number }> {
  const started = performance.now();
  const table = await readParquet(PATH, { columns: COLUMNS, ...(limit ? { limit } : {}) });
  const read = performance.now();
  const violations = checkContract(table, RULES);
  if (violations.length) throw new Error(`unexpected violations: ${JSON.stringify(violations[0])}`);
  return { readMs: read - started, checkMs: performance.now() - read };
}

async function rawDecode(limit: number | undefined): Promise<number> {
  let values = 0;
  await parquetRead({
    file: await fileInMemory(),
    columns: COLUMNS,
    compressors,
    parsers,
    ...(limit ? { rowEnd: limit } : {}),
    onChunk: (chunk) => {
      values += chunk.rowEnd - chunk.rowStart;
    },
  });
  return values;
}

/** Row objects as a JSON Schema validator needs them: INT64 arrives as bigint, which is not a JSON number. */
async function rowObjects(limit: number | undefined): Promise<FlightRow[]> {
  const rows = (await parquetReadObjects({
    file: await fileInMemory(),
    columns: COLUMNS,
    compressors,
    parsers,
    ...(limit ? { rowEnd: limit } : {}),
  })) as FlightRow[];
  for (const row of rows) {
    row.delay = Number(row.delay);
    row.distance = Number(row.distance);
  }
  return rows;
}

const validateRow = new Ajv().compile(ROW_SCHEMA);

function ajvCheck(rows: FlightRow[]): number {
  let invalid = 0;
  for (const row of rows) if (!validateRow(row)) invalid++;
  if (invalid) throw new Error(`ajv: ${invalid} invalid rows: ${JSON.stringify(validateRow.errors)}`);
  return invalid;
}

const timed = async (fn: () => Promise<unknown>): Promise<Sample> => {
  const started = performance.now();
  await fn();
  return { ms: performance.now() - started };
};

/** Checks over data in memory take tens of milliseconds: a sample is the mean of CHECKS_PER_SAMPLE of them. */
const CHECKS_PER_SAMPLE = 5;

function repeat(fn: () => unknown): void {
  for (let i = 0; i < CHECKS_PER_SAMPLE; i++) fn();
}

async function main(): Promise<void> {
  const limit = process.env.BENCH_ROWS ? Number(process.env.BENCH_ROWS) : SMOKE ? 100_000 : undefined;
  const rows = (await readParquet(PATH, { columns: ['delay'], ...(limit ? { limit } : {}) })).rowCount;
  const mrows = (s: Sample) => rows / 1e6 / (s.ms / 1000);
  const through = (xs: Sample[]) => stats(xs.map(mrows));
  const median = (xs: Sample[]) => stats(xs.map((x) => x.ms)).median;

  // Ours after its warm-up run (the last REPS of these).
  const split: { readMs: number; checkMs: number }[] = [];
  const endToEnd = await interleave(
    {
      ours: async () => {
        const started = performance.now();
        split.push(await oursReadAndCheck(limit));
        return { ms: performance.now() - started };
      },
      raw: () => timed(() => rawDecode(limit)),
      ajv: () => timed(async () => ajvCheck(await rowObjects(limit))),
    },
    REPS
  );

  // Validation alone, over data already in memory: the column checks over the table, ajv over row objects.
  const table: Table = await readParquet(PATH, { columns: COLUMNS, ...(limit ? { limit } : {}) });
  const objects = await rowObjects(limit);
  const alone = await interleave(
    {
      ours: () => timed(async () => repeat(() => checkContract(table, RULES))),
      ajv: () => timed(async () => repeat(() => ajvCheck(objects))),
    },
    REPS
  );

  const added = median(endToEnd.ours!) / median(endToEnd.raw!);
  const vsAjv = median(endToEnd.ajv!) / median(endToEnd.ours!);
  const checkVsAjv = median(alone.ajv!) / median(alone.ours!);
  const throughAlone = (xs: Sample[]) => through(xs.map((x) => ({ ms: x.ms / CHECKS_PER_SAMPLE })));
  const label = `${rows.toLocaleString('en-US')} rows`;
  report(
    'data',
    [
      {
        metric: `read + contract check, ${label}`,
        ours: through(endToEnd.ours!),
        peer: through(endToEnd.raw!),
        peerName: 'hyparquet raw decode only',
        unit: 'M rows/s',
        ratio: added,
        ratioMeaning: 'time ours/peer, target <= 1.20',
      },
      {
        metric: `read + contract check, ${label}`,
        ours: through(endToEnd.ours!),
        peer: through(endToEnd.ajv!),
        peerName: 'hyparquet row objects + ajv',
        unit: 'M rows/s',
        ratio: vsAjv,
        ratioMeaning: 'throughput ours/peer, target >= 1',
      },
      {
        metric: `contract check alone, ${label}`,
        ours: throughAlone(alone.ours!),
        peer: throughAlone(alone.ajv!),
        peerName: 'ajv per row object',
        unit: 'M rows/s',
        ratio: checkVsAjv,
        ratioMeaning: 'throughput ours/peer, target >= 1',
      },
    ],
    {
      rows,
      oursReadMs: stats(split.slice(-REPS).map((s) => s.readMs)),
      oursCheckMs: stats(split.slice(-REPS).map((s) => s.checkMs)),
    }
  );
  const readMs = stats(split.slice(-REPS).map((s) => s.readMs)).median;
  const checkMs = stats(split.slice(-REPS).map((s) => s.checkMs)).median;
  const rawMs = median(endToEnd.raw!);
  process.stdout.write(
    `ours: read ${readMs.toFixed(0)} ms + check ${checkMs.toFixed(0)} ms (medians) against the raw decode's ` +
      `${rawMs.toFixed(0)} ms: the read adds ${((readMs / rawMs - 1) * 100).toFixed(0)}%, the check ` +
      `${((checkMs / rawMs) * 100).toFixed(0)}%\n`
  );
  if (added > 1.2 && process.env.BENCH_PROFILE !== '0' && !SMOKE) {
    const rowsArg = String(limit ?? 0);
    process.stdout.write(
      `target missed by ${((added / 1.2 - 1) * 100).toFixed(0)}%. Self time of 3 runs, ours (read + check):\n` +
        `${profileChild(SELF, ['child', 'ours', rowsArg])}\nand of 3 raw decodes:\n` +
        `${profileChild(SELF, ['child', 'raw', rowsArg], 8)}\n`
    );
  }
}

/** `child ours|raw <rows>`: one side alone, three times, for a profile. */
async function child(side: string, limit: number | undefined): Promise<void> {
  for (let i = 0; i < 3; i++) await (side === 'raw' ? rawDecode(limit) : oursReadAndCheck(limit));
}

if (process.argv[2] === 'child') runMain('bench', () => child(process.argv[3]!, Number(process.argv[4]) || undefined));
else runMain('bench', main);
