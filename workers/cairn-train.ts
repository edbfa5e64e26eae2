// Worker for the `cairn-train` task queue: CPU-heavy activities; run more of these to scale training.
import { runMain } from '../lib/process/main.js';
import { runWorker } from './run-worker.js';

runMain('cairn-train-worker', () => runWorker('cairn-train'));
