// Runs a trainer inside a worker thread so the activity's event loop keeps heartbeating.
import { parentPort, workerData } from 'node:worker_threads';
import { trainerOf, trainerParams } from '../ml/index.js';
import type { FeatureMatrix, Model } from '../ml/index.js';
import { curveOf, strideRows } from './curves.js';
import type { TrainingCurves } from './curves.js';
import type { TrainMessage, TrainRequest } from './protocol.js';
import { CairnError } from '../errors.js';

function run(request: TrainRequest): { model: Model; curves?: TrainingCurves } {
  const { trainer, task, numClasses, names, columns, y } = request;
  const post = (message: TrainMessage) => parentPort!.postMessage(message);
  const definition = trainerOf(trainer.kind);
  const x = { rows: y.length, columns, names };
  const model = definition.train(x, y, trainerParams(trainer), {
    task,
    ...(numClasses === undefined ? {} : { numClasses }),
    ...(request.resumeFrom ? { resumeFrom: request.resumeFrom } : {}),
    checkpointEvery: request.checkpointEvery,
    progress: (round, total, checkpoint) =>
      post({ type: 'round', round, total, ...(checkpoint ? { checkpoint: checkpoint as Model } : {}) }),
  }) as Model;
  if (!definition.lossCurve) return { model };
  // The curves come from the finished model, so a run resumed from a checkpoint has them whole too.
  const sets = { train: { x, y } } as Record<string, { x: FeatureMatrix; y: Float64Array }>;
  const held = request.validation;
  if (held) sets.validation = { x: { rows: held.y.length, columns: held.columns, names }, y: held.y };
  const curves: TrainingCurves = {};
  for (const [set, rows] of Object.entries(sets)) {
    const sample = strideRows(rows.x, rows.y);
    const { metric, values } = definition.lossCurve(model, sample.x, sample.y);
    Object.assign(curves, curveOf(set, metric, values));
  }
  return { model, curves };
}

try {
  const request = workerData as TrainRequest;
  if (request.module) await import(request.module);
  parentPort!.postMessage({ type: 'done', ...run(request) } satisfies TrainMessage);
} catch (err) {
  const e = err as Error & { field?: string };
  parentPort!.postMessage({
    type: 'error',
    name: e.name,
    message: e.message,
    ...(e.stack ? { stack: e.stack } : {}),
    ...(typeof e.field === 'string' ? { field: e.field } : {}),
    ...(err instanceof CairnError && !err.retryable
      ? { failure: { type: err.type, ...(err.failureDetails() ? { details: err.failureDetails() } : {}) } }
      : {}),
  } satisfies TrainMessage);
}
