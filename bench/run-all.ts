// `npm run bench`: every benchmark that applies to what has landed, one after another (each also runs alone as
// `npm run bench:<name>`). A failing benchmark does not stop the others; the run fails at the end if any did.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const BENCHES = [
  'artifact-stream.ts',
  'orchestration.ts',
  'run-pipeline.ts',
  'pipeline.ts',
  'data.ts',
  'training.ts',
  'memory.ts',
  'drift.ts',
  'sources.ts',
  'batch.ts',
  'serving.ts',
];

const failed: string[] = [];
for (const bench of BENCHES) {
  process.stdout.write(`\n## ${bench}\n`);
  const result = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(new URL(bench, import.meta.url))], {
    stdio: 'inherit',
  });
  if (result.status !== 0) failed.push(`${bench} (${result.signal ?? `exit ${result.status}`})`);
}
if (failed.length) {
  process.stderr.write(`\nbenchmarks failed: ${failed.join(', ')}\n`);
  process.exit(1);
}
