import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { createInterface } from 'node:readline';
import { writeParquet } from '../data/write-parquet.js';
import { CairnError } from '../errors.js';
import type { Logger } from '../logging/logger.js';
import { OnnxModelError, predictOnnx, readOnnxModel } from '../ml/onnx.js';
import type { OnnxModel } from '../ml/onnx.js';
import type { FeatureMatrix, Task } from '../ml/types.js';

/** An external training command that failed: it exited non-zero, stalled, or wrote no usable model. */
export class ExternalTrainerError extends CairnError {
  override readonly name = 'ExternalTrainerError';
  readonly type = 'ExternalTrainerFailed';
  override readonly retryable: boolean;
  constructor(
    message: string,
    readonly command: string,
    readonly stderr: string[],
    options: { retryable?: boolean } = {}
  ) {
    super(stderr.length ? `${message}; last lines of its stderr:\n  ${stderr.join('\n  ')}` : message);
    this.retryable = options.retryable ?? false;
  }
  override failureDetails() {
    return { command: this.command, stderr: this.stderr };
  }
}

/** A checkpoint: the files the command left in its checkpoint directory, by name, base64. */
export type CheckpointFiles = Record<string, string>;

export interface ExternalTrainingInput {
  command: string[];
  /** Where the command runs: the project's directory. */
  cwd: string;
  /** A directory of its own for this attempt: inputs, spec, output and checkpoints; removed afterwards. */
  workdir: string;
  /** The Python environment's `bin`, put first on PATH. */
  bin?: string;
  task: Task;
  classes?: string[];
  params: Record<string, unknown>;
  seed: number;
  train: { matrix: FeatureMatrix; y: Float64Array };
  test: { matrix: FeatureMatrix; y: Float64Array };
  /** Recorded in the model: what made it (the environment's lock). */
  environment?: Record<string, unknown>;
  /** The checkpoint of an earlier attempt, restored into the checkpoint directory before the command starts. */
  resume?: { round: number; files: CheckpointFiles };
  /** The command is killed when it prints no progress line for this long (the activity's heartbeat timeout). */
  silenceMs: number;
  /** A progress line: the round, of `total`, and the metrics it reported (`{"train.rmse": 31.2}`), if any. */
  onProgress(round: number, total: number, metrics?: Record<string, number>): void;
  /** Stores a checkpoint; the next ones wait for it. */
  onCheckpoint(round: number, files: CheckpointFiles): Promise<void>;
  logger: Logger;
  signal?: AbortSignal;
}

export interface ExternalTrainingResult {
  model: OnnxModel;
  /** How far the ONNX model's predictions on the held-out rows are from the command's own (when it wrote them). */
  agreement?: { rows: number; maxDeviation: number };
  /** The command's own predictions on the held-out rows, as it wrote them (JSON). */
  predictions?: Buffer;
}

/** The target's column in the Parquet inputs: a name no feature has. */
export const TARGET_COLUMN = '__target__';
/** The largest relative deviation of the ONNX predictions from the trainer's own that still counts as agreement. */
export const AGREEMENT_TOLERANCE = 1e-5;
const STDERR_LINES = 20;

function matrixParquet({ matrix, y }: { matrix: FeatureMatrix; y: Float64Array }): Buffer {
  return writeParquet([
    ...matrix.names.map((name, j) => ({ name, type: 'double' as const, data: matrix.columns[j]! })),
    { name: TARGET_COLUMN, type: 'double', data: y },
  ]);
}

/**
 * Runs an external trainer. It gets `CAIRN_SPEC`, the path of a JSON spec: task, classes, params, seed, the feature
 * names and target column, the Parquet files `train` and `test`, the `output` path of the ONNX model to write, an
 * optional `predictions` path for its own predictions on `test` (a JSON array, checked against the ONNX model), its
 * `checkpoints` directory and the `resume` round (null from scratch). Progress is one JSON line per step on stdout,
 * `{"round": 3, "total": 100}`, with `"checkpoint": true` once the checkpoint directory holds a state to resume from,
 * and optionally `"metrics": {"train.rmse": 31.2, "validation.rmse": 33.0}`, points of its training curves.
 */
export async function trainExternal(input: ExternalTrainingInput): Promise<ExternalTrainingResult> {
  const { workdir, command } = input;
  const shown = command.join(' ');
  const checkpoints = join(workdir, 'checkpoints');
  await rm(workdir, { recursive: true, force: true });
  await mkdir(checkpoints, { recursive: true });
  try {
    for (const [name, data] of Object.entries(input.resume?.files ?? {}))
      await writeFile(join(checkpoints, name), Buffer.from(data, 'base64'));
    const spec = {
      task: input.task,
      classes: input.classes ?? null,
      params: input.params,
      seed: input.seed,
      features: input.train.matrix.names,
      target: TARGET_COLUMN,
      train: join(workdir, 'train.parquet'),
      test: join(workdir, 'test.parquet'),
      output: join(workdir, 'model.onnx'),
      predictions: join(workdir, 'predictions.json'),
      checkpoints,
      resume: input.resume?.round ?? null,
    };
    await writeFile(spec.train, matrixParquet(input.train));
    await writeFile(spec.test, matrixParquet(input.test));
    await writeFile(join(workdir, 'spec.json'), JSON.stringify(spec, null, 2));

    const stderr = await runCommand(input, join(workdir, 'spec.json'), checkpoints);
    const fail = (message: string) => new ExternalTrainerError(`\`${shown}\` ${message}`, shown, stderr);
    if (!existsSync(spec.output)) throw fail(`exited 0 but wrote no model at ${spec.output}`);
    let model: OnnxModel;
    try {
      model = await readOnnxModel(await readFile(spec.output), input.task, spec.features, input.environment);
    } catch (err) {
      if (err instanceof OnnxModelError) throw fail(`wrote a model Cairn cannot serve: ${err.message}`);
      throw err;
    }
    if (!existsSync(spec.predictions)) return { model };
    const predictions = await readFile(spec.predictions);
    const agreement = await checkAgreement(model, input.test.matrix, predictions, fail);
    return { model, agreement, predictions };
  } finally {
    await rm(workdir, { recursive: true, force: true });
  }
}

/** The ONNX model's predictions on the held-out rows against the command's own: they must agree to the tolerance. */
async function checkAgreement(
  model: OnnxModel,
  test: FeatureMatrix,
  file: Buffer,
  fail: (message: string) => Error
): Promise<{ rows: number; maxDeviation: number }> {
  let own: unknown;
  try {
    own = JSON.parse(file.toString('utf8'));
  } catch (err) {
    throw fail(`wrote predictions that are not JSON: ${(err as Error).message}`);
  }
  const ours = await predictOnnx(model, test);
  if (!Array.isArray(own) || own.length !== ours.length || !own.every((v) => typeof v === 'number'))
    throw fail(`wrote predictions that are not ${ours.length} numbers (one per held-out row; flatten per-class ones)`);
  let maxDeviation = 0;
  for (let i = 0; i < ours.length; i++) {
    const theirs = own[i] as number;
    const deviation = Math.abs(ours[i]! - theirs) / Math.max(1, Math.abs(theirs));
    if (!(deviation <= AGREEMENT_TOLERANCE))
      throw fail(
        `wrote a model whose ONNX prediction for held-out row ${i} is ${ours[i]}, not its own ${theirs} (tolerance ${AGREEMENT_TOLERANCE})`
      );
    maxDeviation = Math.max(maxDeviation, deviation);
  }
  return { rows: ours.length, maxDeviation };
}

/** Runs the command to its end; resolves with its last stderr lines when it exits 0. */
function runCommand(input: ExternalTrainingInput, specFile: string, checkpoints: string): Promise<string[]> {
  const { command, logger } = input;
  const shown = command.join(' ');
  const stderr: string[] = [];
  const env = {
    ...process.env,
    CAIRN_SPEC: specFile,
    PYTHONUNBUFFERED: '1',
    ...(input.bin
      ? { PATH: `${input.bin}${delimiter}${process.env.PATH ?? ''}`, VIRTUAL_ENV: join(input.bin, '..') }
      : {}),
  };
  return new Promise<string[]>((resolve, reject) => {
    // Its own process group, so a stalled or cancelled command is killed with everything it started.
    const child = spawn(command[0]!, command.slice(1), {
      cwd: input.cwd,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let stopped: Error | undefined;
    const stop = (err: Error) => {
      stopped ??= err;
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // Gone already.
      }
    };
    let silence: NodeJS.Timeout | undefined;
    const watch = () => {
      clearTimeout(silence);
      silence = setTimeout(
        () =>
          stop(
            new ExternalTrainerError(
              `\`${shown}\` printed no progress for ${input.silenceMs / 1000}s (the heartbeat timeout) and was killed`,
              shown,
              stderr
            )
          ),
        input.silenceMs
      );
    };
    const abort = () => stop(input.signal!.reason instanceof Error ? input.signal!.reason : new Error('cancelled'));
    input.signal?.addEventListener('abort', abort, { once: true });
    watch();

    let checkpointing = Promise.resolve();
    createInterface({ input: child.stdout }).on('line', (line) => {
      const progress = parseProgress(line);
      if (!progress) return logger.info({ command: shown, line }, 'trainer output');
      watch();
      input.onProgress(progress.round, progress.total, progress.metrics);
      if (progress.checkpoint)
        checkpointing = checkpointing.then(async () => {
          const files: CheckpointFiles = {};
          for (const name of (await readdir(checkpoints)).sort())
            files[name] = (await readFile(join(checkpoints, name))).toString('base64');
          await input.onCheckpoint(progress.round, files);
        });
    });
    createInterface({ input: child.stderr }).on('line', (line) => {
      stderr.push(line);
      if (stderr.length > STDERR_LINES) stderr.shift();
    });
    child.on('error', (err) =>
      stop(new ExternalTrainerError(`\`${shown}\` could not start: ${err.message}`, shown, stderr))
    );
    child.on('close', (code, signal) => {
      clearTimeout(silence);
      input.signal?.removeEventListener('abort', abort);
      const done = checkpointing.catch((err: unknown) => {
        stopped ??= err as Error;
      });
      void done.then(() => {
        if (stopped) reject(stopped);
        else if (code === 0) resolve(stderr);
        else if (signal)
          // Killed from outside (the OOM killer, a shutdown): another attempt may get through.
          reject(new ExternalTrainerError(`\`${shown}\` was killed by ${signal}`, shown, stderr, { retryable: true }));
        else reject(new ExternalTrainerError(`\`${shown}\` exited with code ${code}`, shown, stderr));
      });
    });
  });
}

function parseProgress(
  line: string
): { round: number; total: number; checkpoint: boolean; metrics?: Record<string, number> } | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    const v = JSON.parse(line) as { round?: unknown; total?: unknown; checkpoint?: unknown; metrics?: unknown };
    if (typeof v.round !== 'number' || typeof v.total !== 'number') return undefined;
    const metrics =
      v.metrics && typeof v.metrics === 'object'
        ? Object.fromEntries(
            Object.entries(v.metrics).filter((e): e is [string, number] => typeof e[1] === 'number' && isFinite(e[1]))
          )
        : undefined;
    return { round: v.round, total: v.total, checkpoint: v.checkpoint === true, ...(metrics && { metrics }) };
  } catch {
    return undefined;
  }
}
