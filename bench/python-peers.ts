// The Python trainers the training and memory benchmarks compare against, in a benchmark-only virtualenv
// (bench/requirements.txt under `pythonEnvs`, from PyPI through pip; nothing else is downloaded), and how to run them.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { GbdtParams } from '../lib/ml/index.js';
import { encodeMatrix } from '../lib/features/matrix-codec.js';
import { loadConfig } from '../lib/config/index.js';
import { ensurePythonEnv, pythonEnvDir, pythonLock } from '../lib/training/python-env.js';
import type { FlightMatrices } from './flight-features.js';
import { flightMatrices, writeMatrixNpy, writeVectorNpy } from './flight-features.js';
import type { Sample } from './harness.js';

const PEERS_SCRIPT = fileURLToPath(new URL('./training-peers.py', import.meta.url));
const REQUIREMENTS = fileURLToPath(new URL('./requirements.txt', import.meta.url));

export type PythonPeer = 'lightgbm' | 'sklearn';

export interface TrainSample extends Sample {
  rmse: number;
  version?: string;
}

/**
 * What the training and memory benchmarks share: the peers' python, and the flight-delays matrices for `rows`
 * built as the pipeline builds them and exported where the Python peers read them.
 */
export async function preparePeers(rows: number): Promise<{ python: string; dir: string; matrices: FlightMatrices }> {
  const { home, pythonEnvs } = loadConfig();
  const python = await benchPython(pythonEnvs!, (line) => process.stdout.write(`${line}\n`));
  const dir = join(home, 'bench', `training-${rows}`);
  const matrices = await flightMatrices(rows);
  exportMatrices(dir, matrices);
  return { python, dir, matrices };
}

/**
 * The peers' python: the virtualenv of bench/requirements.txt (lightgbm, scikit-learn, numpy, pandas, pyarrow and
 * what they need, every version pinned), built from PyPI by pip once per lock under `pythonEnvs` and shared with
 * every later run and checkout. Needs python3 with its venv module, and PyPI (or a mirror set with PIP_INDEX_URL).
 */
export async function benchPython(pythonEnvs: string, log: (line: string) => void): Promise<string> {
  const lock = await pythonLock(REQUIREMENTS);
  const dir = pythonEnvDir(pythonEnvs, lock);
  if (!existsSync(join(dir, 'cairn-lock.json'))) log(`installing ${REQUIREMENTS} from PyPI into ${dir}`);
  try {
    return join((await ensurePythonEnv(REQUIREMENTS, lock, pythonEnvs)).bin, 'python');
  } catch (err) {
    throw new Error(
      `the Python peers' environment could not be built (${(err as Error).message}): they need Python 3 with venv ` +
        'and pip (Debian/Ubuntu: `sudo apt-get install python3 python3-venv`, macOS: `brew install python`) and PyPI ' +
        '(or a mirror set with PIP_INDEX_URL)'
    );
  }
}

/**
 * Writes the matrices twice over, with the same numbers: .npy files for the Python peers and Cairn's matrix codec
 * (what the train activity reads from the store) for ours.
 */
export function exportMatrices(dir: string, m: FlightMatrices): void {
  mkdirSync(dir, { recursive: true });
  writeMatrixNpy(join(dir, 'x_train.npy'), m.train.x);
  writeVectorNpy(join(dir, 'y_train.npy'), m.train.y);
  writeMatrixNpy(join(dir, 'x_test.npy'), m.test.x);
  writeVectorNpy(join(dir, 'y_test.npy'), m.test.y);
  writeFileSync(join(dir, 'train.matrix'), encodeMatrix({ matrix: m.train.x, y: m.train.y }));
  writeFileSync(join(dir, 'test.matrix'), encodeMatrix({ matrix: m.test.x, y: m.test.y }));
}

/** One fit of a peer in a fresh process; `threads` 1, or `default` (the library's own choice: every core). */
export function runPeer(
  python: string,
  peer: PythonPeer,
  dir: string,
  params: GbdtParams,
  threads: 1 | 'default'
): TrainSample {
  const env = { ...process.env };
  // OpenMP (LightGBM, scikit-learn) and BLAS take their thread count from here.
  if (threads === 1) for (const key of ['OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS']) env[key] = '1';
  else for (const key of ['OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS']) delete env[key];
  const out = execFileSync(python, [PEERS_SCRIPT, peer, dir, JSON.stringify(params), String(threads)], {
    encoding: 'utf8',
    env,
  });
  return JSON.parse(out.trim().split('\n').pop()!) as TrainSample;
}
