// Workflows of the runPipeline benchmark (bench/run-pipeline.ts), bundled by it into one bundle: Cairn's
// runPipeline workflow as it ships, and the orchestration benchmark's bare Temporal workflow as the peer.
export { runPipeline } from '../../workflows/run-pipeline.js';
export { bareStages } from './orchestration.js';
