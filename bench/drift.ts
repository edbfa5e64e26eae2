// Drift check throughput: lib/drift against numpy/scipy on the same data, in the same run. Real data: the `delay` and
// `distance` columns of flights-3m.parquet, reference = January 2001, current = June 2001 (about 0.5 M rows each).
// One check, per column: 20 equal-width bins on the reference, the current window counted on them (clamped), PSI and
// Jensen-Shannon distance; two-sample KS (asymp) on reservoir samples of 10,000 values per side; Wasserstein distance
// on the full columns. The peer (bench/drift-peer.py) runs the same steps with np.histogram, scipy's jensenshannon,
// Generator.choice, ks_2samp and wasserstein_distance on the same columns, exported as raw float64 files. Both sides
// are timed around the check alone (data already in memory), on one thread (the peer with OMP/BLAS threads at 1);
// rows per second counts reference + current rows. The peers' virtualenv is bench/requirements.txt's (scipy comes
// with scikit-learn there), built with pip once. BENCH_REPS (default 5); --smoke: 1 repetition on the first 50,000
// rows of each month.
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../lib/config/index.js';
import { readParquet } from '../lib/data/index.js';
import {
  equalWidthEdges,
  histogramOnEdges,
  jensenShannonDistance,
  ksTwoSample,
  psi,
  reservoirSample,
  wassersteinDistance,
} from '../lib/drift/index.js';
import { resolveSourcePath } from '../lib/pipeline/run-config.js';
import { runMain } from '../lib/process/main.js';
import { interleave, report, sized, SMOKE, stats } from './harness.js';
import type { Sample } from './harness.js';
import { benchPython } from './python-peers.js';

const REPS = sized('BENCH_REPS', 5, 1);
const PATH = resolveSourcePath('npm:vega-datasets/data/flights-3m.parquet');
const PEER = fileURLToPath(new URL('./drift-peer.py', import.meta.url));
const COLUMNS = ['delay', 'distance'] as const;
const REFERENCE_MONTH = 0;
const CURRENT_MONTH = 5;
const BINS = 20;
const SAMPLE = 10_000;
/** Rows of each month under --smoke. */
const SMOKE_ROWS = 50_000;

type Column = (typeof COLUMNS)[number];

interface Statistics {
  psi: number;
  jensenShannon: number;
  ks: { statistic: number; pValue: number };
  wasserstein: number;
}

interface PeerOutput {
  ms: number[];
  laps: Record<string, number>;
  results: Record<Column, Statistics>;
  versions: { numpy: string; scipy: string };
}

/** Reference and current values of each column, split by the month of `date` (UTC). */
async function loadColumns(): Promise<Record<Column, { reference: Float64Array; current: Float64Array }>> {
  const table = await readParquet(PATH, { columns: ['date', ...COLUMNS] });
  const numbers = (name: string): Float64Array => {
    const column = table.columns[name]!;
    if (column.type !== 'number' && column.type !== 'timestamp') throw new Error(`${name}: not a numeric column`);
    return column.values;
  };
  const date = numbers('date');
  const months = new Int8Array(table.rowCount);
  let referenceRows = 0;
  let currentRows = 0;
  for (let i = 0; i < table.rowCount; i++) {
    const month = new Date(date[i]!).getUTCMonth();
    months[i] = month;
    if (month === REFERENCE_MONTH) referenceRows++;
    else if (month === CURRENT_MONTH) currentRows++;
  }
  const split = (name: Column) => {
    const values = numbers(name);
    const reference = new Float64Array(referenceRows);
    const current = new Float64Array(currentRows);
    for (let i = 0, r = 0, c = 0; i < table.rowCount; i++) {
      if (months[i] === REFERENCE_MONTH) reference[r++] = values[i]!;
      else if (months[i] === CURRENT_MONTH) current[c++] = values[i]!;
    }
    if (!SMOKE) return { reference, current };
    return { reference: reference.subarray(0, SMOKE_ROWS), current: current.subarray(0, SMOKE_ROWS) };
  };
  return { delay: split('delay'), distance: split('distance') };
}

/** Ours: the same steps as the peer's `check`, laps added into `laps`. */
function check(reference: Float64Array, current: Float64Array, seed: number, laps: Record<string, number>): Statistics {
  let t = performance.now();
  const lap = (name: string) => {
    const now = performance.now();
    laps[name] = (laps[name] ?? 0) + now - t;
    t = now;
  };
  const edges = equalWidthEdges(reference, BINS);
  const referenceCounts = histogramOnEdges(reference, edges).counts;
  const currentCounts = histogramOnEdges(current, edges).counts;
  lap('histograms');
  const distances = {
    psi: psi(referenceCounts, currentCounts),
    jensenShannon: jensenShannonDistance(referenceCounts, currentCounts),
  };
  lap('psi+js');
  const referenceSample = reservoirSample(reference, SAMPLE, seed);
  const currentSample = reservoirSample(current, SAMPLE, seed + 1);
  lap('samples');
  const ks = ksTwoSample(referenceSample, currentSample, { method: 'asymp' });
  lap('ks');
  const wasserstein = wassersteinDistance(reference, current);
  lap('wasserstein');
  return { ...distances, ks: { statistic: ks.statistic, pValue: ks.pValue }, wasserstein };
}

function runPeer(python: string, dir: string): PeerOutput {
  const env = { ...process.env };
  for (const key of ['OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS']) env[key] = '1';
  const out = execFileSync(python, [PEER, dir, COLUMNS.join(','), '1'], { encoding: 'utf8', env });
  return JSON.parse(out.trim().split('\n').pop()!) as PeerOutput;
}

const relative = (a: number, b: number) => Math.abs(a - b) / Math.max(Math.abs(b), 1e-300);
const laps = (l: Record<string, number>) =>
  Object.entries(l)
    .map(([k, v]) => `${k} ${v.toFixed(1)}`)
    .join(', ');

async function main(): Promise<void> {
  const { home, pythonEnvs } = loadConfig();
  const python = await benchPython(pythonEnvs!, (line) => process.stdout.write(`${line}\n`));
  execFileSync(python, ['-c', 'import numpy, scipy'], { stdio: 'inherit' });
  const data = await loadColumns();
  const dir = join(home, 'bench', 'drift');
  mkdirSync(dir, { recursive: true });
  for (const name of COLUMNS) {
    for (const side of ['reference', 'current'] as const) {
      const values = data[name][side];
      writeFileSync(
        join(dir, `${name}-${side}.f64`),
        new Uint8Array(values.buffer, values.byteOffset, values.byteLength)
      );
    }
  }
  const rows = data.delay.reference.length + data.delay.current.length;

  // V8 tiers the loops up over the first few checks (the peer warms up once per process before it times).
  for (let i = 0; i < 3; i++) for (const name of COLUMNS) check(data[name].reference, data[name].current, 1, {});

  let oursLaps: Record<string, number> = {};
  let oursResults = {} as Record<Column, Statistics>;
  let peer: PeerOutput | undefined;
  const samples = await interleave(
    {
      ours: async (): Promise<Sample> => {
        const l: Record<string, number> = {};
        const started = performance.now();
        const results = {} as Record<Column, Statistics>;
        for (const name of COLUMNS) results[name] = check(data[name].reference, data[name].current, 1, l);
        const ms = performance.now() - started;
        oursLaps = l;
        oursResults = results;
        return { ms };
      },
      numpy: async (): Promise<Sample> => {
        peer = runPeer(python, dir);
        return { ms: peer.ms[0]! };
      },
    },
    REPS
  );

  const throughput = (xs: Sample[]) => stats(xs.map((s) => rows / 1e6 / (s.ms / 1000)));
  const median = (xs: Sample[]) => stats(xs.map((s) => s.ms)).median;
  const ratio = median(samples.numpy!) / median(samples.ours!);
  const label = `${rows.toLocaleString('en-US')} rows x ${COLUMNS.length} columns`;
  const agreement = Object.fromEntries(
    COLUMNS.map((name) => {
      const o = oursResults[name];
      const p = peer!.results[name];
      return [
        name,
        {
          psi: relative(o.psi, p.psi),
          jensenShannon: relative(o.jensenShannon, p.jensenShannon),
          wasserstein: relative(o.wasserstein, p.wasserstein),
          ks: { ours: o.ks, peer: p.ks },
        },
      ];
    })
  );
  report(
    'drift',
    [
      {
        metric: `drift check (PSI, JS, KS on 10k samples, full Wasserstein), ${label}`,
        ours: throughput(samples.ours!),
        peer: throughput(samples.numpy!),
        peerName: `numpy ${peer!.versions.numpy} + scipy ${peer!.versions.scipy}, 1 thread`,
        unit: 'M rows/s',
        ratio,
        ratioMeaning: 'throughput ours/peer, target >= 1',
      },
    ],
    {
      rows,
      reference: 'January 2001',
      current: 'June 2001',
      oursLapsMs: oursLaps,
      peerLapsMs: peer!.laps,
      agreement,
      versions: peer!.versions,
    }
  );
  process.stdout.write(
    `per step, last run (ms, both columns): ours ${laps(oursLaps)}; numpy/scipy ${laps(peer!.laps)}\n` +
      `agreement (relative difference, ours vs scipy): ` +
      COLUMNS.map((name) => {
        const a = agreement[name]!;
        return (
          `${name} PSI ${a.psi.toExponential(1)}, JS ${a.jensenShannon.toExponential(1)}, ` +
          `Wasserstein ${a.wasserstein.toExponential(1)}, KS D ${a.ks.ours.statistic.toFixed(4)} vs ` +
          `${a.ks.peer.statistic.toFixed(4)} (different 10k samples)`
        );
      }).join('; ') +
      '\n'
  );
}

runMain('bench', main);
