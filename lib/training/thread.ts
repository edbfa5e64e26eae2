// Runs a trainer inside a worker thread so the activity's event loop keeps heartbeating.
import { parentPort, workerData } from 'node:worker_threads';
import { trainGbdt, trainLinear, trainLogistic } from '../ml/index.js';
import type { GbdtModel, Model } from '../ml/index.js';
import type { TrainMessage, TrainRequest } from './protocol.js';
import { CairnError } from '../errors.js';

function run(request: TrainRequest): Model {
  const { trainer, task, numClasses, names, columns, y } = request;
  const x = { rows: y.length, columns, names };
  const post = (message: TrainMessage) => parentPort!.postMessage(message);
  switch (trainer.kind) {
    case 'gbdt': {
      const { kind: _kind, ...params } = trainer;
      return trainGbdt(
        x,
        y,
        { ...params, task, numClasses },
        {
          resumeFrom: request.resumeFrom as GbdtModel | undefined,
          onRound(round, model) {
            const checkpoint = round % request.checkpointEvery === 0 && round < trainer.rounds ? model : undefined;
            post({ type: 'round', round, total: trainer.rounds, ...(checkpoint ? { checkpoint } : {}) });
          },
        }
      );
    }
    case 'linear':
      return trainLinear(x, y, { l2: trainer.l2 });
    case 'logistic':
      return trainLogistic(x, y, {
        task,
        numClasses,
        l2: trainer.l2,
        maxIterations: trainer.maxIterations,
        tolerance: 1e-8,
      });
  }
}

try {
  const model = run(workerData as TrainRequest);
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
