// Training: Cairn's GBDT against LightGBM and scikit-learn's HistGradientBoostingRegressor on the same flight-delays
// rows and features (our transformed matrices exported once, read by every trainer), with the pipeline's trainer
// settings: 100 rounds, depth 6 (LightGBM and scikit-learn: at most 63 leaves), learning rate 0.1, 255 bins, at least
// 100 rows per leaf, L2 1. Every fit runs in a fresh process, timed around the fit alone (binning included); RMSE on
// the pipeline's time-based held-out rows; peak RSS of the whole process. Every trainer runs twice: on one thread,
// and on its default, every core (OMP_NUM_THREADS unset for the peers; os.availableParallelism() for ours). The
// peers live in a benchmark-only virtualenv, bench/requirements.txt's, built with pip once.
// BENCH_REPS (default 5), BENCH_ROWS (default 1,000,000); --smoke: 20,000 rows, 10 rounds, one repetition.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { decodeMatrix } from '../lib/features/matrix-codec.js';
import { predict, rmse, trainGbdt } from '../lib/ml/index.js';
import type { GbdtParams } from '../lib/ml/index.js';

/** The trainer's parameters plus its threads (the pipeline's `trainer.threads`); unset: every core. */
type OurParams = GbdtParams & { threads?: number };
import { runMain } from '../lib/process/main.js';
import { profileChild } from './cpu-profile.js';
import { interleave, report, sized, SMOKE, stats } from './harness.js';
import type { Row } from './harness.js';
import { preparePeers, runPeer } from './python-peers.js';
import type { TrainSample } from './python-peers.js';

const REPS = sized('BENCH_REPS', 5, 1);
const ROWS = sized('BENCH_ROWS', 1_000_000, 20_000);
const SELF = fileURLToPath(import.meta.url);

/** `child <dir> <params>`: our fit in this process, printed as one JSON line like the Python peers print theirs. */
function child(dir: string, params: OurParams): void {
  const train = decodeMatrix(readFileSync(join(dir, 'train.matrix')));
  const test = decodeMatrix(readFileSync(join(dir, 'test.matrix')));
  const started = performance.now();
  const { threads, ...rest } = params;
  const model = trainGbdt(train.matrix, train.y, rest, threads === undefined ? {} : { threads });
  const ms = performance.now() - started;
  const sample: TrainSample = {
    ms,
    rmse: rmse(test.y, predict(model, test.matrix)),
    peakRssMiB: process.resourceUsage().maxRSS / 1024,
  };
  process.stdout.write(`${JSON.stringify(sample)}\n`);
}

function ours(dir: string, params: OurParams): TrainSample {
  const out = execFileSync(process.execPath, ['--import', 'tsx', SELF, 'child', dir, JSON.stringify(params)], {
    encoding: 'utf8',
  });
  return JSON.parse(out.trim().split('\n').pop()!) as TrainSample;
}

async function main(): Promise<void> {
  const { python, dir, matrices } = await preparePeers(ROWS);
  const params: GbdtParams = SMOKE ? { ...matrices.params, rounds: 10 } : matrices.params;
  const trainRows = matrices.train.x.rows;
  const testRows = matrices.test.x.rows;
  const features = matrices.train.x.names.length;
  const cores = availableParallelism();

  const results = (await interleave(
    {
      ours: async () => ours(dir, { ...params, threads: 1 }),
      lightgbm: async () => runPeer(python, 'lightgbm', dir, params, 1),
      sklearn: async () => runPeer(python, 'sklearn', dir, params, 1),
      oursAllCores: async () => ours(dir, params),
      lightgbmAllCores: async () => runPeer(python, 'lightgbm', dir, params, 'default'),
      sklearnAllCores: async () => runPeer(python, 'sklearn', dir, params, 'default'),
    },
    REPS
  )) as Record<string, TrainSample[]>;

  const seconds = (xs: TrainSample[]) => stats(xs.map((x) => x.ms / 1000));
  const rmses = (xs: TrainSample[]) => stats(xs.map((x) => x.rmse));
  const rss = (xs: TrainSample[]) => stats(xs.map((x) => x.peakRssMiB!));
  const shape = `${trainRows.toLocaleString('en-US')} rows x ${features}`;
  const all = `${cores} threads`;
  const {
    ours: o1,
    oursAllCores: oN,
    lightgbm: lgb1,
    sklearn: skl1,
    lightgbmAllCores: lgbN,
    sklearnAllCores: sklN,
  } = results as Record<string, TrainSample[]>;
  const row = (
    metric: string,
    of: (xs: TrainSample[]) => ReturnType<typeof stats>,
    o: TrainSample[],
    peer: TrainSample[],
    peerName: string,
    unit: string,
    ratioMeaning: string
  ): Row => ({
    metric,
    ours: of(o),
    peer: of(peer),
    peerName,
    unit,
    ratio: of(o).median / of(peer).median,
    ratioMeaning,
  });
  const time = `train time, ${shape}`;
  const rows: Row[] = [
    row(`${time}, 1 thread`, seconds, o1!, skl1!, 'scikit-learn HGB, 1 thread', 's', 'time ours/peer, target <= 1.3'),
    row(`${time}, 1 thread`, seconds, o1!, lgb1!, 'LightGBM, 1 thread', 's', 'time ours/peer'),
    row(`${time}, ${all}`, seconds, oN!, sklN!, `scikit-learn HGB, ${all}`, 's', 'time ours/peer, target <= 1'),
    row(`${time}, ${all}`, seconds, oN!, lgbN!, `LightGBM, ${all}`, 's', 'time ours/peer, target <= 1.5'),
    row(`${time}, ${all} against 1`, seconds, o1!, oN!, `ours, ${all}`, 's', 'speed-up from threads'),
    row(
      `held-out RMSE, ${testRows.toLocaleString('en-US')} rows`,
      rmses,
      oN!,
      lgbN!,
      'LightGBM',
      'min',
      'RMSE ours/peer, target <= 1.01'
    ),
    row(
      `held-out RMSE, ${testRows.toLocaleString('en-US')} rows`,
      rmses,
      oN!,
      sklN!,
      'scikit-learn HGB',
      'min',
      'RMSE ours/peer, lower is better'
    ),
    row('peak RSS of the training process', rss, oN!, lgbN!, `LightGBM, ${all}`, 'MiB', 'memory ours/peer'),
    row('peak RSS of the training process', rss, oN!, sklN!, `scikit-learn HGB, ${all}`, 'MiB', 'memory ours/peer'),
  ];
  // The model is the same bytes on any number of threads (a unit test checks it); so is its RMSE here.
  if (rmses(o1!).median !== rmses(oN!).median) throw new Error('the 1-thread and all-core models scored differently');
  report('training', rows, {
    trainRows,
    testRows,
    features: matrices.train.x.names,
    params,
    threads: cores,
    versions: { lightgbm: lgb1![0]?.version, sklearn: skl1![0]?.version },
  });

  const missed =
    seconds(o1!).median > 1.3 * seconds(skl1!).median ||
    seconds(oN!).median > seconds(sklN!).median ||
    seconds(oN!).median > 1.5 * seconds(lgbN!).median ||
    rmses(oN!).median > 1.01 * rmses(lgbN!).median;
  if (missed && !SMOKE && process.env.BENCH_PROFILE !== '0') {
    process.stdout.write(
      `a target is missed; self time of our training process (1 thread):\n${profileChild(SELF, ['child', dir, JSON.stringify({ ...params, threads: 1 })])}\n`
    );
  }
}

if (process.argv[2] === 'child') {
  runMain('bench', async () => child(process.argv[3]!, JSON.parse(process.argv[4]!) as OurParams));
} else runMain('bench', main);
