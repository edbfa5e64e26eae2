// `npm run bench`: every benchmark that applies to what has landed, one after another (each also runs alone as
// `npm run bench:<name>`). A failing benchmark does not stop the others; the run fails at the end if any did.
// `npm run bench:smoke` (`npm run bench -- --smoke`) passes --smoke to each: tiny sizes, one repetition, nothing
// recorded, and a benchmark fails unless it reports a finite ratio for every row (bench/harness.ts). CI runs that.
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
  'feature-join.ts',
  'drift.ts',
  'sources.ts',
  'batch.ts',
  'serving.ts',
  'feature-serving.ts',
  'console.ts',
];

const smoke = process.argv.includes('--smoke');
/** Under --smoke a benchmark that hangs fails instead of holding CI: each takes seconds. */
const SMOKE_TIMEOUT_MS = 300_000;
const failed: string[] = [];
const times: string[] = [];
const startedAll = performance.now();
for (const bench of BENCHES) {
  process.stdout.write(`\n## ${bench}${smoke ? ' --smoke' : ''}\n`);
  const started = performance.now();
  const result = spawnSync(
    process.execPath,
    ['--import', 'tsx', fileURLToPath(new URL(bench, import.meta.url)), ...(smoke ? ['--smoke'] : [])],
    { stdio: 'inherit', ...(smoke ? { timeout: SMOKE_TIMEOUT_MS } : {}) }
  );
  const ok = result.status === 0;
  times.push(
    `${bench.padEnd(20)} ${((performance.now() - started) / 1000).toFixed(1).padStart(6)} s${ok ? '' : '  FAILED'}`
  );
  const timedOut = (result.error as NodeJS.ErrnoException | undefined)?.code === 'ETIMEDOUT';
  if (!ok) {
    failed.push(
      `${bench} (${timedOut ? `timed out after ${SMOKE_TIMEOUT_MS / 1000} s` : (result.signal ?? `exit ${result.status}`)})`
    );
  }
}
process.stdout.write(
  `\n${smoke ? 'smoke run' : 'benchmarks'}, wall time each:\n${times.join('\n')}\n` +
    `${'total'.padEnd(20)} ${((performance.now() - startedAll) / 1000).toFixed(1).padStart(6)} s\n`
);
if (failed.length) {
  process.stderr.write(`\nbenchmarks failed: ${failed.join(', ')}\n`);
  process.exit(1);
}
