// `npm run bench`: every benchmark that applies to what has landed, one after another (each also runs alone).
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const BENCHES = ['artifact-stream.ts'];

for (const bench of BENCHES) {
  process.stdout.write(`\n## ${bench}\n`);
  execFileSync(process.execPath, ['--import', 'tsx', fileURLToPath(new URL(bench, import.meta.url))], {
    stdio: 'inherit',
  });
}
