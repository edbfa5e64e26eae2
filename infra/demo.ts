// The quick-start demo: bring the stack up, start the workers, train flight-delays end to end, say where to look.
// Extra arguments are config overrides: `npm run demo -- rows=200000 rounds=50`.
import { loadConfig } from '../lib/config/index.js';
import { runMain } from '../lib/process/main.js';
import { connectClient } from '../lib/temporal/connection.js';
import { describeFailure, printResult, startRun, uiLink, watchRun } from '../cli/training.js';
import { stackUp, workersUp } from './stack.js';

runMain('demo', async () => {
  const config = loadConfig();
  const sets = process.argv.slice(2);
  await stackUp(config);
  await workersUp(config);
  const client = await connectClient(config);
  try {
    const handle = await startRun(client, config, 'flight-delays', sets);
    process.stdout.write(
      `\ntraining flight-delays${sets.length ? ` (${sets.join(' ')})` : ''}: ${handle.workflowId}\n`
    );
    const result = await watchRun(handle).catch((err: unknown) => {
      throw new Error(describeFailure(err));
    });
    process.stdout.write('\n');
    printResult(result);
    process.stdout.write(
      [
        '',
        `See the run in the Temporal UI: ${uiLink(config, handle.workflowId)}`,
        `  or find every run of the pipeline there with the query: CairnPipeline = "flight-delays"`,
        'The workers keep running: `npm run cairn -- run penguins --watch` trains another pipeline;',
        '`npm run stack:down` stops everything.',
        '',
      ].join('\n')
    );
  } finally {
    await client.connection.close();
  }
});
