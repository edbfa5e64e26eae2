// Runs a trainer inside a worker thread so the activity's event loop keeps heartbeating.
import { parentPort, workerData } from 'node:worker_threads';
import { trainerOf, trainerParams } from '../ml/index.js';
import type { Model } from '../ml/index.js';
import type { TrainMessage, TrainRequest } from './protocol.js';
import { CairnError } from '../errors.js';

function run(request: TrainRequest): Model {
  const { trainer, task, numClasses, names, columns, y } = request;
  const post = (message: TrainMessage) => parentPort!.postMessage(message);
  return trainerOf(trainer.kind).train({ rows: y.length, columns, names }, y, trainerParams(trainer), {
    task,
    ...(numClasses === undefined ? {} : { numClasses }),
    ...(request.resumeFrom ? { resumeFrom: request.resumeFrom } : {}),
    checkpointEvery: request.checkpointEvery,
    progress: (round, total, checkpoint) =>
      post({ type: 'round', round, total, ...(checkpoint ? { checkpoint: checkpoint as Model } : {}) }),
  }) as Model;
}

try {
  const request = workerData as TrainRequest;
  if (request.module) await import(request.module);
  const model = run(request);
  parentPort!.postMessage({ type: 'done', model } satisfies TrainMessage);
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
