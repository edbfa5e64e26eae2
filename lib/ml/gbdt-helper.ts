// A helper thread of GBDT training: handed the shared rows of one training at a time, it claims tasks of each batch
// the growing thread publishes (see gbdt-kernels.ts) until that training tells it to exit, then waits for the next.
import { parentPort } from 'node:worker_threads';
import { CTL_DONE, CTL_EXIT, CTL_FAILED, CTL_GENERATION, Kernels, spinWhile } from './gbdt-kernels.js';
import type { SharedRows } from './gbdt-kernels.js';

parentPort!.on('message', (shared: SharedRows) => {
  const kernels = new Kernels(shared);
  const { control } = kernels;
  let seen = 0;
  try {
    for (;;) {
      spinWhile(control, CTL_GENERATION, seen);
      Atomics.wait(control, CTL_GENERATION, seen);
      seen = Atomics.load(control, CTL_GENERATION);
      if (Atomics.load(control, CTL_EXIT) === 1) return;
      kernels.work(true);
    }
  } catch (err) {
    Atomics.store(control, CTL_FAILED, 1);
    Atomics.notify(control, CTL_DONE);
    throw err;
  }
});
parentPort!.postMessage('ready');
