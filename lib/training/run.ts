import { Worker } from 'node:worker_threads';
import type { Model } from '../ml/index.js';
import { MlInputError } from '../ml/types.js';
import type { TrainingCurves } from './curves.js';
import type { TrainMessage, TrainRequest } from './protocol.js';
import { ForwardedError, isNonRetryableType } from '../errors.js';

// The thread runs TypeScript too: its entry registers tsx, whatever started this process (tsx, vitest, node).
const THREAD = new URL('./thread-entry.mjs', import.meta.url);

export interface TrainProgress {
  round: number;
  total: number;
  /** The model so far, when this round is a checkpoint. */
  checkpoint?: Model;
}

/**
 * Trains in a worker thread. `onProgress` runs on this thread (so it can heartbeat and store checkpoints);
 * `signal` aborts training by terminating the thread.
 */
export function trainInThread(
  request: TrainRequest,
  onProgress: (p: TrainProgress) => void,
  signal?: AbortSignal
): Promise<{ model: Model; curves?: TrainingCurves }> {
  return new Promise((resolve, reject) => {
    const held = request.validation ? [...request.validation.columns, request.validation.y] : [];
    const transfer = [...request.columns, request.y, ...held].map((a) => a.buffer as ArrayBuffer);
    const worker = new Worker(THREAD, {
      workerData: request,
      transferList: [...new Set(transfer)],
      resourceLimits: { maxOldGenerationSizeMb: 4096 },
    });
    let settled = false;
    const finish = (fn: () => void) => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', abort);
      fn();
    };
    const abort = () => finish(() => void worker.terminate().then(() => reject(signal!.reason)));
    signal?.addEventListener('abort', abort, { once: true });
    worker.on('message', (message: TrainMessage) => {
      if (message.type === 'round') onProgress(message);
      else if (message.type === 'done')
        finish(() => resolve({ model: message.model, ...(message.curves && { curves: message.curves }) }));
      else finish(() => reject(threadError(message)));
    });
    worker.on('error', (err) => finish(() => reject(err)));
    worker.on('exit', (code) => finish(() => reject(new Error(`training thread exited with code ${code}`))));
  });
}

/** An error the thread reported, as the type it was: a trainer input error, or any CairnError, stays non-retryable. */
function threadError(message: Extract<TrainMessage, { type: 'error' }>): Error {
  const { failure } = message;
  const err =
    message.name === 'MlInputError'
      ? new MlInputError(message.message, message.field)
      : failure && isNonRetryableType(failure.type)
        ? new ForwardedError(failure.type, message.message, failure.details)
        : new Error(message.message);
  if (message.stack) err.stack = message.stack;
  return err;
}
