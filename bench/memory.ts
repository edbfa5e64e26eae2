// Memory: peak RSS of a process that reads, transforms and trains flight-delays on all 3,000,000 rows of
// flights-3m.parquet (the pipeline's trainer settings, in one process), against LightGBM (one thread) training on the
// same features exported to .npy (it reads no Parquet and fits no features: a lower bound for a Python pipeline).
// Target: ours <= 2 GiB. BENCH_REPS (default 5), BENCH_ROWS (default 3,000,000); --smoke: 1 repetition on 20,000
// rows, no profile. The peer's virtualenv is bench/requirements.txt's, built with pip once (bench/python-peers.ts).
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { predict, rmse, trainGbdt } from '../lib/ml/index.js';
import { runMain } from '../lib/process/main.js';
import { profileChild } from './cpu-profile.js';
import { flightMatrices } from './flight-features.js';
import { interleave, report, sized, SMOKE, stats } from './harness.js';
import { preparePeers, runPeer } from './python-peers.js';
import type { TrainSample } from './python-peers.js';

const REPS = sized('BENCH_REPS', 5, 1);
const ROWS = sized('BENCH_ROWS', 3_000_000, 20_000);
const SELF = fileURLToPath(import.meta.url);
const TARGET_MIB = 2048;

interface MemorySample extends TrainSample {
  /** Read, transform and train, wall time. */
  totalMs: number;
}

/** `child <rows>`: the whole job in this process, printed as one JSON line. */
async function child(rows: number): Promise<void> {
  const started = performance.now();
  const m = await flightMatrices(rows);
  const fit = performance.now();
  const model = trainGbdt(m.train.x, m.train.y, m.params);
  const ms = performance.now() - fit;
  const sample: MemorySample = {
    ms,
    totalMs: performance.now() - started,
    rmse: rmse(m.test.y, predict(model, m.test.x)),
    peakRssMiB: process.resourceUsage().maxRSS / 1024,
  };
  process.stdout.write(`${JSON.stringify(sample)}\n`);
}

function ours(): MemorySample {
  const out = execFileSync(process.execPath, ['--import', 'tsx', SELF, 'child', String(ROWS)], { encoding: 'utf8' });
  return JSON.parse(out.trim().split('\n').pop()!) as MemorySample;
}

async function main(): Promise<void> {
  const { python, dir, matrices } = await preparePeers(ROWS);
  const { params } = matrices;
  const shape = `${matrices.train.x.rows.toLocaleString('en-US')} training rows`;

  const results = await interleave(
    { ours: async () => ours(), lightgbm: async () => runPeer(python, 'lightgbm', dir, params, 1) },
    REPS
  );
  const o = results.ours as MemorySample[];
  const lgb = results.lightgbm as TrainSample[];
  const rss = (xs: TrainSample[]) => stats(xs.map((x) => x.peakRssMiB!));
  const peak = rss(o);
  report(
    'memory',
    [
      {
        metric: `peak RSS, ${ROWS.toLocaleString('en-US')} rows read + transformed + trained`,
        ours: peak,
        peer: rss(lgb),
        peerName: 'LightGBM 1 thread, .npy features',
        unit: 'MiB',
        ratio: peak.median / rss(lgb).median,
        ratioMeaning: `memory ours/peer; target ours <= ${TARGET_MIB} MiB: ${peak.max <= TARGET_MIB ? 'met' : 'missed'}`,
      },
      {
        metric: `train time, ${shape}`,
        ours: stats(o.map((x) => x.ms / 1000)),
        peer: stats(lgb.map((x) => x.ms / 1000)),
        peerName: 'LightGBM 1 thread, .npy features',
        unit: 's',
        ratio: stats(o.map((x) => x.ms)).median / stats(lgb.map((x) => x.ms)).median,
        ratioMeaning: 'time ours/peer',
      },
    ],
    {
      rows: ROWS,
      trainRows: matrices.train.x.rows,
      targetMiB: TARGET_MIB,
      oursTotalSeconds: stats(o.map((x) => x.totalMs / 1000)),
      rmse: { ours: o[0]?.rmse, lightgbm: lgb[0]?.rmse },
    }
  );
  process.stdout.write(
    `ours: read + transform + train ${stats(o.map((x) => x.totalMs / 1000)).median.toFixed(1)} s in all, ` +
      `held-out RMSE ${o[0]!.rmse.toFixed(2)} (LightGBM ${lgb[0]!.rmse.toFixed(2)}); peak RSS target ` +
      `${TARGET_MIB} MiB: ${peak.max <= TARGET_MIB ? 'met' : 'missed'} (highest of ${o.length} runs ${peak.max.toFixed(0)} MiB)\n`
  );
  if (peak.max > TARGET_MIB && process.env.BENCH_PROFILE !== '0' && !SMOKE) {
    process.stdout.write(`self time of our process:\n${profileChild(SELF, ['child', String(ROWS)])}\n`);
  }
}

if (process.argv[2] === 'child') runMain('bench', () => child(Number(process.argv[3])));
else runMain('bench', main);
