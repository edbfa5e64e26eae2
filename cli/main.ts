// The `cairn` command line: thin over lib/ and the Temporal client.
import { randomUUID } from 'node:crypto';
import { Command } from 'commander';
import packageJson from '../package.json' with { type: 'json' };
import { loadConfig, redactConfig } from '../lib/config/index.js';
import { preflight, probeObjectStore, probePostgres, probeTemporal } from '../lib/health/probes.js';
import { runMain } from '../lib/process/main.js';
import { connectClient } from '../lib/temporal/connection.js';
import type { hello } from '../workflows/hello.js';
import { statusQuery } from '../workflows/messages.js';
import type { trainingPipeline } from '../workflows/training-pipeline.js';
import { describeFailure, EXIT, printResult, startRun, uiLink, watchRun } from './training.js';

const collect = (value: string, previous: string[]) => [...previous, value];

const print = (line = '') => process.stdout.write(`${line}\n`);

const program = new Command('cairn')
  .description('Cairn: ML pipelines as durable Temporal workflows')
  .version(packageJson.version)
  .showHelpAfterError()
  .configureOutput({ writeErr: (s) => process.stderr.write(s) });

program
  .command('hello')
  .description('run the hello wiring workflow: writes an artifact and a PostgreSQL row, prints their references')
  .argument('<name>', 'who to greet')
  .option('-w, --workflow-id <id>', 'workflow id (default: hello-<name>-<random>)')
  .option('--no-wait', 'start the workflow and print its id without waiting for the result')
  .action(async (name: string, options: { workflowId?: string; wait: boolean }) => {
    const config = loadConfig();
    await preflight(config, ['temporal']);
    const client = await connectClient(config);
    try {
      const workflowId = options.workflowId ?? `hello-${name.replace(/[^\w-]/g, '_')}-${randomUUID().slice(0, 8)}`;
      const handle = await client.workflow.start<typeof hello>('hello', {
        taskQueue: config.temporal.taskQueue,
        workflowId,
        args: [{ name }],
      });
      print(`started hello ${workflowId} on task queue ${config.temporal.taskQueue}`);
      if (!options.wait) return;
      print(JSON.stringify(await handle.result(), null, 2));
    } finally {
      await client.connection.close();
    }
  });

program
  .command('run')
  .description('start a training run of a pipeline (penguins, flight-delays, …)')
  .argument('<pipeline>', 'pipeline name')
  .option('-s, --set <key=value>', 'override a config key (repeatable; dotted keys for nested ones)', collect, [])
  .option('-w, --watch', 'follow the run: stage by stage, a progress bar while training, then the result table')
  .action(async (name: string, options: { set: string[]; watch?: boolean }) => {
    const config = loadConfig();
    await preflight(config, ['temporal']);
    const client = await connectClient(config);
    try {
      const handle = await startRun(client, config, name, options.set);
      print(`started ${handle.workflowId}: ${uiLink(config, handle.workflowId)}`);
      if (!options.watch) return;
      try {
        const result = await watchRun(handle);
        printResult(result);
        process.exitCode = result.gate.passed ? EXIT.ok : EXIT.gateFailed;
      } catch (err) {
        process.stderr.write(`cairn: ${describeFailure(err)}\n`);
        process.exitCode = EXIT.failed;
      }
    } finally {
      await client.connection.close();
    }
  });

program
  .command('status')
  .description('show the stage and results of a run')
  .argument('<workflowId>', 'the run (workflow id) to show')
  .action(async (workflowId: string) => {
    const config = loadConfig();
    const client = await connectClient(config);
    try {
      const handle = client.workflow.getHandle<typeof trainingPipeline>(workflowId);
      const description = await handle.describe();
      print(`${workflowId}  ${description.type}  ${description.status.name}  ${uiLink(config, workflowId)}`);
      if (description.status.name === 'COMPLETED') printResult(await handle.result());
      else if (description.status.name === 'FAILED') {
        const failure = await handle.result().catch((err: unknown) => err);
        print(describeFailure(failure));
        process.exitCode = EXIT.failed;
      } else {
        const status = await handle.query(statusQuery);
        print(`stage ${status.stage}; finished: ${Object.keys(status.results).join(', ') || 'none'}`);
      }
    } finally {
      await client.connection.close();
    }
  });

program
  .command('check')
  .description('check that Temporal, PostgreSQL and the object store answer at the configured addresses')
  .action(async () => {
    const config = loadConfig();
    const results = await Promise.all([probeTemporal(config), probePostgres(config), probeObjectStore(config)]);
    for (const r of results) print(`${r.ok ? 'ok  ' : 'DOWN'}  ${r.component.padEnd(12)}  ${r.address}  ${r.detail}`);
    await preflight(config, ['temporal', 'postgres', 'object-store']);
  });

program
  .command('config')
  .description('print the effective configuration (secrets redacted)')
  .action(() => {
    print(JSON.stringify(redactConfig(loadConfig()), null, 2));
  });

runMain('cairn', async () => {
  await program.parseAsync(process.argv);
});
