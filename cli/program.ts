// The `cairn` command line's commands: thin over lib/ and the Temporal client. `cli/main.ts` runs them.
import { randomUUID } from 'node:crypto';
import { Command } from 'commander';
import packageJson from '../package.json' with { type: 'json' };
import { loadConfig, redactConfig } from '../lib/config/index.js';
import { preflight, probeObjectStore, probePostgres, probeTemporal } from '../lib/health/probes.js';
import { connectClient } from '../lib/temporal/connection.js';
import type { hello } from '../workflows/hello.js';
import { statusQuery } from '../workflows/messages.js';
import type { RunPipelineResult } from '../workflows/run-pipeline.js';
import type { trainingPipeline } from '../workflows/training-pipeline.js';
import { ModelRefError, parseModelRef } from '../lib/registry/model-ref.js';
import { aliasHistory, listModels, listVersions, resolveVersion } from '../lib/registry/models.js';
import { getDataset, listDatasets, listRuns } from '../lib/tracking/queries.js';
import { reconcileRuns } from '../lib/tracking/reconcile.js';
import { formatLineage, lineageOf, reproduce, requireRun } from './registry.js';
import { json, print, reportContext, when, withDb } from './io.js';
import { addAuditCommands } from './audit.js';
import { requirePrincipal } from './auth.js';
import { addKeyCommands } from './keys.js';
import { addCodecCommands } from './codec.js';
import { addMonitorCommands } from './monitor.js';
import { addReleaseCommands } from './release.js';
import { addScheduleCommands } from './schedule.js';
import { addFeatureCommands } from './features.js';
import { addIndexCommands } from './indexes.js';
import { addPromptCommands } from './prompts.js';
import { formatTable, short } from './table.js';
import {
  addProjectCommands,
  cliProject,
  describeStep,
  printPipelineResult,
  reproducePipelineRun,
  startPipelineRun,
  watchPipelineRun,
} from './pipelines.js';
import { consolePage, describeFailure, EXIT, printResult, startRun, uiLink, watchRun } from './training.js';

const collect = (value: string, previous: string[]) => [...previous, value];

export const program = new Command('cairn')
  .description('Cairn: ML pipelines as durable Temporal workflows')
  .version(packageJson.version)
  .showHelpAfterError()
  .configureOutput({ writeErr: (s) => process.stderr.write(s) })
  .option('--token-file <path>', 'file holding the token state-changing commands present (or CAIRN_TOKEN)')
  .hook('preAction', (command) => {
    const { tokenFile } = command.opts<{ tokenFile?: string }>();
    if (tokenFile) process.env.CAIRN_TOKEN_FILE = tokenFile;
  });

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
  .description(
    'start a run of a pipeline: one of the project (runPipeline) or a built-in one (penguins, flight-delays)'
  )
  .argument('<pipeline>', 'pipeline name')
  .option('-s, --set <key=value>', 'override a config key (repeatable; dotted keys for nested ones)', collect, [])
  .option(
    '-w, --watch',
    'follow the run stage by stage or step by step (a progress bar while training), then the result table'
  )
  .option('--no-cache', 'recompute every step instead of reusing cached results')
  .action(async (name: string, options: { set: string[]; watch?: boolean; cache: boolean }) => {
    const config = loadConfig();
    const project = await cliProject(config);
    await preflight(config, ['temporal']);
    const { principal: requestedBy } = await requirePrincipal();
    const client = await connectClient(config);
    try {
      if (project.pipelines.has(name)) {
        const handle = await startPipelineRun(client, config, project, name, options.set, {
          noCache: !options.cache,
          requestedBy,
        });
        print(`started ${handle.workflowId}: ${uiLink(config, handle.workflowId)}`);
        print(`console: ${consolePage(config, 'runs', handle.workflowId)} (cairn ui)`);
        if (!options.watch) return;
        try {
          printPipelineResult(await watchPipelineRun(handle));
        } catch (err) {
          process.stderr.write(`cairn: ${describeFailure(err)}\n`);
          process.exitCode = EXIT.failed;
        }
        return;
      }
      const handle = await startRun(client, config, name, options.set, {
        noCache: !options.cache,
        project,
        requestedBy,
      });
      print(`started ${handle.workflowId}: ${uiLink(config, handle.workflowId)}`);
      print(`console: ${consolePage(config, 'runs', handle.workflowId)} (cairn ui)`);
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
      if (description.type === 'runPipeline') {
        const status = await handle.query(statusQuery);
        for (const [id, s] of Object.entries(status.steps ?? {})) print(describeStep(id, s));
      }
      if (description.status.name === 'COMPLETED')
        if (description.type === 'runPipeline')
          printPipelineResult((await handle.result()) as unknown as RunPipelineResult);
        else if (description.type === 'trainingPipeline') printResult(await handle.result());
        // Other workflows (releases, materialisations, batch scoring) answer with JSON of their own.
        else json(await handle.result());
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

const num = (v: number) => (Number.isInteger(v) ? String(v) : v.toFixed(4));

const runs = program.command('runs').description('tracked runs: params, metrics, stages, cost');
runs
  .command('list')
  .option('-p, --pipeline <name>', 'only runs of this pipeline')
  .option('-n, --limit <n>', 'how many, newest first', '20')
  .option('--json', 'print JSON')
  .action(async (options: { pipeline?: string; limit: string; json?: boolean }) => {
    await withDb(async (db) => {
      const rows = await listRuns(db, {
        ...(options.pipeline ? { pipeline: options.pipeline } : {}),
        limit: Number(options.limit),
      });
      if (options.json) return json(rows);
      print(
        formatTable([
          ['run', 'pipeline', 'status', 'trigger', 'model', 'dataset', 'cache hits', 'cpu s', 'started'],
          ...rows.map((r) => [
            r.id,
            r.pipeline,
            r.status,
            r.trigger,
            r.modelName ? `${r.modelName}@${r.modelVersion}` : '-',
            short(r.datasetDigest),
            r.cacheHits.join(',') || '-',
            r.cpuSeconds.toFixed(1),
            when(r.startedAt),
          ]),
        ])
      );
    });
  });
runs
  .command('show')
  .argument('<run>', 'run (workflow) id')
  .option('--json', 'print JSON')
  .action(async (id: string, options: { json?: boolean }) => {
    await withDb(async (db) => {
      const r = await requireRun(db, id);
      if (options.json) return json(r);
      print(`${r.id}  ${r.pipeline} v${r.pipelineVersion}  ${r.status}${r.error ? `: ${r.error.split('\n')[0]}` : ''}`);
      print(
        `trigger ${r.trigger}${r.requestedBy ? ` by ${r.requestedBy}` : ''}${r.parentRunId ? `, parent ${r.parentRunId}` : ''}`
      );
      print(
        `config ${r.configDigest}, code ${r.codeCommit}${r.codeDirty ? ' (dirty)' : ''}, dataset ${r.datasetDigest ?? '-'}`
      );
      print(`model ${r.modelName ? `${r.modelName}@${r.modelVersion}` : '-'}, package ${r.packageDigest ?? '-'}`);
      print(`cpu ${r.cpuSeconds.toFixed(2)} s, cost ${r.cost.toFixed(6)}, ${when(r.startedAt)} → ${when(r.endedAt)}\n`);
      print(
        formatTable([
          ['stage', 'status', 'attempt', 'cache', 'wall ms', 'cpu ms'],
          ...r.stages.map((s) => [
            s.stage,
            s.status,
            String(s.attempt),
            s.cacheHit ? 'hit' : '-',
            (s.wallMs ?? 0).toFixed(0),
            (s.cpuMs ?? 0).toFixed(0),
          ]),
        ])
      );
      if (r.metrics.length)
        print(`\n${formatTable([['metric', 'value'], ...r.metrics.map((m) => [m.name, num(m.value)])])}`);
    });
  });

runs
  .command('reconcile')
  .description('close run records whose workflow ended without closing them (terminated, timed out, gone)')
  .option('--json', 'print JSON')
  .action(async (options: { json?: boolean }) => {
    await withDb(async (db, _store, config) => {
      await preflight(config, ['temporal']);
      await requirePrincipal(db);
      const client = await connectClient(config);
      try {
        const closed = await reconcileRuns(client, db);
        if (options.json) return json(closed);
        for (const c of closed) print(`${c.id}: ${c.end.status} (${c.end.error})`);
        print(`${closed.length} run record(s) closed`);
      } finally {
        await client.connection.close();
      }
    });
  });

const models = program.command('models').description('the model registry: versions and aliases');
models
  .command('list')
  .option('--json', 'print JSON')
  .action(async (options: { json?: boolean }) => {
    await withDb(async (db) => {
      const rows = await listModels(db);
      if (options.json) return json(rows);
      print(
        formatTable([
          ['model', 'pipeline', 'versions', 'aliases'],
          ...rows.map((m) => [
            m.name,
            m.pipeline,
            String(m.versions),
            Object.entries(m.aliases)
              .map(([a, v]) => `${a}=${v}`)
              .join(' ') || '-',
          ]),
        ])
      );
    });
  });
models
  .command('show')
  .argument('<model>', 'model name, or <model>@<version|alias> for one version')
  .option('--json', 'print JSON')
  .action(async (name: string, options: { json?: boolean }) => {
    await withDb(async (db) => {
      if (name.includes('@')) {
        const v = await resolveVersion(db, parseModelRef(name));
        return options.json ? json(v) : print(JSON.stringify(v, null, 2));
      }
      await resolveVersion(db, { model: name, version: 1 });
      const [versions, history] = await Promise.all([listVersions(db, name), aliasHistory(db, name)]);
      if (options.json) return json({ model: name, versions, aliasHistory: history });
      print(
        formatTable([
          ['version', 'run', 'package', 'dataset', 'gate', 'metrics'],
          ...versions.map((v) => [
            String(v.version),
            v.runId,
            short(v.packageDigest),
            short(v.datasetDigest),
            (v.gate as { passed: boolean }).passed ? 'passed' : 'failed',
            Object.entries(v.metrics)
              .map(([k, x]) => `${k}=${num(x)}`)
              .join(' '),
          ]),
        ])
      );
      print('\nalias history:');
      for (const h of history)
        print(
          `  ${when(h.setAt)}  ${h.alias} → v${h.version}${h.previousVersion ? ` (was v${h.previousVersion})` : ''} by ${h.setBy}: ${h.reason}`
        );
    });
  });

const datasets = program.command('datasets').description('accepted dataset versions');
datasets
  .command('list')
  .option('-p, --pipeline <name>', 'only this pipeline')
  .option('--json', 'print JSON')
  .action(async (options: { pipeline?: string; json?: boolean }) => {
    await withDb(async (db) => {
      const rows = await listDatasets(db, options.pipeline);
      if (options.json) return json(rows);
      print(
        formatTable([
          ['pipeline', 'dataset', 'rows', 'schema', 'manifest', 'accepted'],
          ...rows.map((d) => [
            d.pipeline,
            d.digest,
            String(d.rowCount),
            short(d.schemaDigest),
            short(d.manifestDigest),
            when(d.acceptedAt),
          ]),
        ])
      );
    });
  });
datasets
  .command('show')
  .argument('<digest>', 'dataset digest or a unique prefix of it')
  .option('--json', 'print JSON')
  .action(async (digest: string, options: { json?: boolean }) => {
    await withDb(async (db, store) => {
      const found = await getDataset(db, digest);
      if (!found.length) throw new ModelRefError(`unknown dataset ${digest} (see: cairn datasets list)`);
      const manifest = await store.getJson(found[0]!.manifestDigest);
      if (options.json) return json({ versions: found, manifest });
      for (const d of found)
        print(`${d.digest}  pipeline ${d.pipeline}, ${d.rowCount} rows, accepted ${when(d.acceptedAt)}`);
      print(JSON.stringify(manifest, null, 2));
    });
  });

program
  .command('compare')
  .description('two runs of one pipeline side by side: params and metrics')
  .argument('<runA>')
  .argument('<runB>')
  .option('--json', 'print JSON')
  .action(async (a: string, b: string, options: { json?: boolean }) => {
    await withDb(async (db) => {
      const [ra, rb] = [await requireRun(db, a), await requireRun(db, b)];
      if (ra.pipeline !== rb.pipeline)
        throw new ModelRefError(
          `cannot compare runs of different pipelines: ${a} is ${ra.pipeline}, ${b} is ${rb.pipeline}`
        );
      const metric = (r: typeof ra, name: string) => r.metrics.find((m) => m.name === name && m.step === 0)?.value;
      const params = [...new Set([...Object.keys(ra.params), ...Object.keys(rb.params)])].sort();
      const metrics = [...new Set([...ra.metrics, ...rb.metrics].map((m) => m.name))].sort();
      const rows = [
        ...params.map((p) => ({ kind: 'param', name: p, a: ra.params[p] ?? null, b: rb.params[p] ?? null })),
        ...metrics.map((m) => ({ kind: 'metric', name: m, a: metric(ra, m) ?? null, b: metric(rb, m) ?? null })),
      ];
      if (options.json) return json({ runs: [a, b], pipeline: ra.pipeline, rows });
      print(
        formatTable([
          ['', 'name', a, b],
          ...rows.map((r) => [
            r.kind,
            r.name,
            typeof r.a === 'number' ? num(r.a) : String(r.a ?? '-'),
            (typeof r.b === 'number' ? num(r.b) : String(r.b ?? '-')) + (r.a !== r.b ? '  *' : ''),
          ]),
        ])
      );
    });
  });

program
  .command('lineage')
  .description('what made a model version: dataset, config, code, run')
  .argument('<ref>', '<model>@<version|alias>')
  .option('--json', 'print JSON')
  .action(async (ref: string, options: { json?: boolean }) => {
    await withDb(async (db, store) => {
      const l = await lineageOf(db, store, ref);
      print(options.json ? JSON.stringify(l, null, 2) : formatLineage(l));
    });
  });

program
  .command('reproduce')
  .description('re-run what made a model version or a pipeline run (recorded config, no cache) and compare digests')
  .argument('<ref>', '<model>@<version|alias>, or the id of a runPipeline run')
  .option('--json', 'print JSON')
  .action(async (ref: string, options: { json?: boolean }) => {
    await withDb(async (db, store, config) => {
      await preflight(config, ['temporal', 'object-store']);
      const { principal } = await requirePrincipal(db);
      const client = await connectClient(config);
      try {
        if (!ref.includes('@')) {
          const r = await reproducePipelineRun(client, db, config, await cliProject(config), ref, principal);
          if (options.json) json(r);
          else {
            print(`run ${r.run} reproduced by ${r.reproducedBy}`);
            print(`  recorded outputs    ${r.recorded}`);
            print(`  reproduced outputs  ${r.reproduced}  ${r.identical ? 'IDENTICAL' : 'DIFFERENT'}`);
            if (r.differences.length) print(`  differ: ${r.differences.join(', ')}`);
          }
          process.exitCode = r.identical ? EXIT.ok : EXIT.gateFailed;
          return;
        }
        const r = await reproduce(client, db, store, config, ref, principal);
        if (options.json) json(r);
        else {
          print(`${r.model}@${r.version} (run ${r.run}) reproduced by ${r.reproducedBy}`);
          print(`  registered package  ${r.registeredPackage}`);
          print(`  reproduced package  ${r.reproducedPackage}  ${r.identical ? 'IDENTICAL' : 'DIFFERENT'}`);
          print(
            `  code  recorded ${r.recordedCommit}, now ${r.currentCommit}: ${r.commitMatches ? 'same' : 'DIFFERENT'}`
          );
        }
        process.exitCode = r.identical ? EXIT.ok : EXIT.gateFailed;
      } finally {
        await client.connection.close();
      }
    });
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

program
  .command('serve')
  .description('serve the deployed models: HTTP predictions (/v1/models/:name/predict), or --stream on NATS JetStream')
  .option('--stream', 'consume cairn.predict.<model> from JetStream and answer on cairn.predictions.<model>')
  .action(async (o: { stream?: boolean }) => {
    const config = loadConfig();
    // Loaded here: other commands need neither fastify nor NATS.
    if (o.stream) await (await import('../serving/stream-main.js')).runStreamConsumer(config);
    else await (await import('../serving/main.js')).serve(config);
  });

program
  .command('report')
  .description('write a model version as one self-contained HTML file: metrics, curves, lineage (opens offline)')
  .argument('<ref>', '<model>@<version>')
  .option('-o, --out <file>', 'where to write it (default <model>-v<version>.html)')
  .action(async (ref: string, o: { out?: string }) => {
    const parsed = parseModelRef(ref);
    if (parsed.version === undefined) throw new ModelRefError(`report takes <model>@<version>, got ${ref}`);
    const { writeModelReport } = await import('../console/report.js');
    await withDb(async (db) => {
      const written = await writeModelReport(
        reportContext(db),
        parsed.model,
        parsed.version!,
        o.out ?? `${parsed.model}-v${parsed.version}.html`
      );
      print(
        `wrote ${written.file} (${Math.ceil(written.bytes / 1024)} KiB): open it in a browser, it needs no network`
      );
    });
  });

program
  .command('ui')
  .description('the Cairn console: runs, curves and comparisons, models and lineage, in the browser (console.url)')
  .action(async () => {
    await (await import('../console/main.js')).runConsole(loadConfig());
  });

addProjectCommands(program);
addReleaseCommands(program);
addScheduleCommands(program);
addFeatureCommands(program);
addPromptCommands(program);
addIndexCommands(program);
addMonitorCommands(program);
addKeyCommands(program);
addCodecCommands(program);
addAuditCommands(program);
