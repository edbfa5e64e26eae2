// Worker for the `cairn` task queue: workflows and light activities.
import { runMain } from '../lib/process/main.js';
import { runWorker } from './run-worker.js';

runMain('cairn-worker', () => runWorker('cairn'));
