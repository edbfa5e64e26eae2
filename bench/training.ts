// Training: Cairn's GBDT against LightGBM and scikit-learn's HistGradientBoostingRegressor on the same flight-delays
// rows and features (our transformed matrices exported once, read by every trainer), with the pipeline's trainer
// settings: 100 rounds, depth 6 (LightGBM and scikit-learn: at most 63 leaves), learning rate 0.1, 255 bins, at least
// 100 rows per leaf, L2 1. Every fit runs in a fresh process, timed around the fit alone (binning included); RMSE on
// the pipeline's time-based held-out rows; peak RSS of the whole process. Our trainer is single-threaded, so the
// ratios use the peers on one thread; their default (every core) is reported beside them. The peers live in a
// benchmark-only virtualenv, <home>/bench-venv, created with pip when missing.
// BENCH_REPS (default 5), BENCH_ROWS (default 1,000,000).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { decodeMatrix } from '../lib/features/matrix-codec.js';
import { predict, rmse, trainGbdt } from '../lib/ml/index.js';
import type { GbdtParams } from '../lib/ml/index.js';
import { runMain } from '../lib/process/main.js';
import { profileChild } from './cpu-profile.js';
import { interleave, machine, report, stats } from './harness.js';
import type { Row } from './harness.js';
import { preparePeers, runPeer } from './python-peers.js';
import type { TrainSample } from './python-peers.js';

const REPS = Number(process.env.BENCH_REPS ?? 5);
const ROWS = Number(process.env.BENCH_ROWS ?? 1_000_000);
const SELF = fileURLToPath(import.meta.url);

/** `child <dir> <params>`: our fit in this process, printed as one JSON line like the Python peers print theirs. */
function child(dir: string, params: GbdtParams): void {
  const train = decodeMatrix(readFileSync(join(dir, 'train.matrix')));
  const test = decodeMatrix(readFileSync(join(dir, 'test.matrix')));
  const started = performance.now();
  const model = trainGbdt(train.matrix, train.y, params);
  const ms = performance.now() - started;
  const sample: TrainSample = {
    ms,
    rmse: rmse(test.y, predict(model, test.matrix)),
    peakRssMiB: process.resourceUsage().maxRSS / 1024,
  };
  process.stdout.write(`${JSON.stringify(sample)}\n`);
}

function ours(dir: string, params: GbdtParams): TrainSample {
  const out = execFileSync(process.execPath, ['--import', 'tsx', SELF, 'child', dir, JSON.stringify(params)], {
    encoding: 'utf8',
  });
  return JSON.parse(out.trim().split('\n').pop()!) as TrainSample;
}

async function main(): Promise<void> {
  const { python, dir, matrices } = await preparePeers(ROWS);
  const { params } = matrices;
  const trainRows = matrices.train.x.rows;
  const testRows = matrices.test.x.rows;
  const features = matrices.train.x.names.length;

  const results = (await interleave(
    {
      ours: async () => ours(dir, params),
      lightgbm: async () => runPeer(python, 'lightgbm', dir, params, 1),
      sklearn: async () => runPeer(python, 'sklearn', dir, params, 1),
      lightgbmAllCores: async () => runPeer(python, 'lightgbm', dir, params, 'default'),
      sklearnAllCores: async () => runPeer(python, 'sklearn', dir, params, 'default'),
    },
    REPS
  )) as Record<string, TrainSample[]>;

  const seconds = (xs: TrainSample[]) => stats(xs.map((x) => x.ms / 1000));
  const rmses = (xs: TrainSample[]) => stats(xs.map((x) => x.rmse));
  const rss = (xs: TrainSample[]) => stats(xs.map((x) => x.peakRssMiB!));
  const o = results.ours!;
  const lgb = results.lightgbm!;
  const skl = results.sklearn!;
  const shape = `${trainRows.toLocaleString('en-US')} rows x ${features}`;
  const rows: Row[] = [
    {
      metric: `train time, ${shape}`,
      ours: seconds(o),
      peer: seconds(lgb),
      peerName: 'LightGBM, 1 thread',
      unit: 's',
      ratio: seconds(o).median / seconds(lgb).median,
      ratioMeaning: 'time ours/peer, target <= 3',
    },
    {
      metric: `train time, ${shape}`,
      ours: seconds(o),
      peer: seconds(skl),
      peerName: 'scikit-learn HGB, 1 thread',
      unit: 's',
      ratio: seconds(o).median / seconds(skl).median,
      ratioMeaning: 'time ours/peer, target <= 1',
    },
    {
      metric: `held-out RMSE, ${testRows.toLocaleString('en-US')} rows`,
      ours: rmses(o),
      peer: rmses(lgb),
      peerName: 'LightGBM, 1 thread',
      unit: 'min',
      ratio: rmses(o).median / rmses(lgb).median,
      ratioMeaning: 'RMSE ours/peer, target <= 1.01',
    },
    {
      metric: `held-out RMSE, ${testRows.toLocaleString('en-US')} rows`,
      ours: rmses(o),
      peer: rmses(skl),
      peerName: 'scikit-learn HGB, 1 thread',
      unit: 'min',
      ratio: rmses(o).median / rmses(skl).median,
      ratioMeaning: 'RMSE ours/peer, lower is better',
    },
    {
      metric: 'peak RSS of the training process',
      ours: rss(o),
      peer: rss(lgb),
      peerName: 'LightGBM, 1 thread',
      unit: 'MiB',
      ratio: rss(o).median / rss(lgb).median,
      ratioMeaning: 'memory ours/peer, lower is better',
    },
    {
      metric: 'peak RSS of the training process',
      ours: rss(o),
      peer: rss(skl),
      peerName: 'scikit-learn HGB, 1 thread',
      unit: 'MiB',
      ratio: rss(o).median / rss(skl).median,
      ratioMeaning: 'memory ours/peer, lower is better',
    },
  ];
  const lgbAll = results.lightgbmAllCores!;
  const sklAll = results.sklearnAllCores!;
  const versions = { lightgbm: lgb[0]?.version, sklearn: skl[0]?.version };
  report('training', rows, {
    trainRows,
    testRows,
    features: matrices.train.x.names,
    params,
    versions,
    defaultThreads: { lightgbm: seconds(lgbAll), sklearn: seconds(sklAll), rmseLightgbm: rmses(lgbAll).median },
  });
  const cores = machine().split(', ')[1];
  process.stdout.write(
    `peers on their default threads (${cores}): LightGBM ${seconds(lgbAll).median.toFixed(2)} s ` +
      `[${seconds(lgbAll).min.toFixed(2)}-${seconds(lgbAll).max.toFixed(2)}] (ours/peer ` +
      `${(seconds(o).median / seconds(lgbAll).median).toFixed(3)}), scikit-learn ${seconds(sklAll).median.toFixed(2)} s ` +
      `[${seconds(sklAll).min.toFixed(2)}-${seconds(sklAll).max.toFixed(2)}] (ours/peer ` +
      `${(seconds(o).median / seconds(sklAll).median).toFixed(3)}); the ratios above use 1 thread, as ours does. ` +
      `LightGBM ${versions.lightgbm}, scikit-learn ${versions.sklearn}\n`
  );

  const missed =
    seconds(o).median > 3 * seconds(lgb).median ||
    seconds(o).median > seconds(skl).median ||
    rmses(o).median > 1.01 * rmses(lgb).median;
  if (missed && process.env.BENCH_PROFILE !== '0') {
    process.stdout.write(
      `a target is missed; self time of our training process:\n${profileChild(SELF, ['child', dir, JSON.stringify(params)])}\n`
    );
  }
}

if (process.argv[2] === 'child') {
  runMain('bench', async () => child(process.argv[3]!, JSON.parse(process.argv[4]!) as GbdtParams));
} else runMain('bench', main);
