// The quick-start demo: bring the stack up, start the workers, run a workflow end to end, say where to look.
import { randomUUID } from 'node:crypto';
import { loadConfig } from '../lib/config/index.js';
import { runMain } from '../lib/process/main.js';
import { connectClient } from '../lib/temporal/connection.js';
import type { hello } from '../workflows/hello.js';
import { ensureBinaries } from './stack/binaries.js';
import { stackUp, workersUp } from './stack.js';

runMain('demo', async () => {
  const config = loadConfig();
  await stackUp(config);
  await workersUp(config);
  const { temporal } = ensureBinaries(config.home, ['temporal']);
  const client = await connectClient(config);
  try {
    const workflowId = `hello-demo-${randomUUID().slice(0, 8)}`;
    const result = await client.workflow.execute<typeof hello>('hello', {
      taskQueue: config.temporal.taskQueue,
      workflowId,
      args: [{ name: 'Cairn' }],
    });
    const ui = `http://127.0.0.1:${config.temporal.uiPort}/namespaces/${config.temporal.namespace}/workflows/${workflowId}`;
    process.stdout.write(
      [
        '',
        `hello ${workflowId} completed: ${result.greeting}`,
        `  artifact  ${result.artifact.digest} (${result.artifact.bytes} bytes) at ${result.artifact.uri}`,
        `  row       ${result.row.table} id ${result.row.id}`,
        `  see it    ${ui}`,
        '',
        'The workers keep running: start more with `npm run cairn -- hello <name>` or',
        `  ${temporal} workflow start --type hello --task-queue ${config.temporal.taskQueue} -i '{"name":"x"}'`,
        'Stop everything with `npm run stack:down`.',
        '',
      ].join('\n')
    );
  } finally {
    await client.connection.close();
  }
});
