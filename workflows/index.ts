// Every workflow type the `cairn` worker serves; names are public API (start them by name from the UI or CLI).
export { hello } from './hello.js';
export { trainingPipeline } from './training-pipeline.js';
export { batchInference } from './batch-inference.js';
export { releaseModel } from './release-model.js';
export { lifecycle } from './lifecycle.js';
export { retrainModel } from './retrain-model.js';
export { monitorModel } from './monitor-model.js';
export { runPipeline } from './run-pipeline.js';
export { pruneLogs } from './prune-log.js';
export { notifyWebhooks } from './notify.js';
export { materializeFeatures } from './materialize-features.js';
export { evaluatePrompt } from './evaluate-prompt.js';
export { releaseIndex, releasePrompt } from './release-alias.js';
export { monitorIndex, monitorPrompt } from './monitor-alias.js';
export { rebuildIndex } from './rebuild-index.js';
