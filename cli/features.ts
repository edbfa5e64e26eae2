// `cairn features …`: the project's feature views, their versions and materialisations.
import { randomUUID } from 'node:crypto';
import type { Command } from 'commander';
import { loadConfig } from '../lib/config/index.js';
import { connectRedis, onlineStoreName, onlineStoreOf } from '../lib/features/store/online.js';
import { listMaterializations, listSnapshots } from '../lib/features/store/registry.js';
import { checkViewSkew } from '../lib/features/store/skew.js';
import { createLogger } from '../lib/logging/logger.js';
import type { FeatureView } from '../lib/features/store/view.js';
import { createMaterializeSchedule } from '../lib/temporal/schedules.js';
import type { materializeFeatures } from '../workflows/materialize-features.js';
import { requirePrincipal } from './auth.js';
import { json, print, UsageError, when, withClient, withDb } from './io.js';
import { cliProject } from './pipelines.js';
import { asAdmin } from './schedule.js';
import { formatTable, short } from './table.js';

const describeFeature = (f: FeatureView['features'][number]) =>
  `${f.name} = ${f.aggregate}${f.column ? `(${f.column})` : ''} over ${f.window}`;

const time = (ms: number | undefined) => (ms === undefined ? '-' : when(new Date(ms)));

export function addFeatureCommands(program: Command): void {
  const features = program.command('features').description("the project's feature views (offline and online store)");

  features
    .command('list')
    .description('feature views: definition version, latest snapshot and latest online write')
    .option('--json', 'print JSON')
    .action(async (o: { json?: boolean }) => {
      const project = await cliProject(loadConfig());
      await withDb(async (db) => {
        const rows = [];
        for (const view of project.featureViews.values()) {
          const snapshots = (await listSnapshots(db, view.name)).filter((s) => s.viewDigest === view.digest);
          const online = (await listMaterializations(db, view.name)).find((m) => m.viewDigest === view.digest);
          rows.push({
            view: view.name,
            version: view.digest,
            entities: view.entities,
            features: view.features.map((f) => f.name),
            ttl: view.ttl,
            snapshot: snapshots[0]?.snapshot ?? null,
            rows: snapshots[0]?.rowCount ?? null,
            onlineAsOf: online?.asOf ?? null,
          });
        }
        if (o.json) return json(rows);
        if (!rows.length) return print('no feature views in this project (defineProject({ featureViews: [...] }))');
        print(
          formatTable([
            ['VIEW', 'VERSION', 'ENTITIES', 'FEATURES', 'TTL', 'SNAPSHOT', 'ROWS', 'ONLINE AS OF'],
            ...rows.map((r) => [
              r.view,
              short(r.version),
              r.entities.join('+'),
              String(r.features.length),
              r.ttl,
              r.snapshot ? short(r.snapshot) : '-',
              r.rows === null ? '-' : String(r.rows),
              when(r.onlineAsOf),
            ]),
          ])
        );
      });
    });

  features
    .command('show')
    .description("a feature view: its definition, snapshots (the offline store's versions) and online writes")
    .argument('<view>', 'feature view name')
    .option('--json', 'print JSON')
    .action(async (name: string, o: { json?: boolean }) => {
      const view = (await cliProject(loadConfig())).featureView(name);
      await withDb(async (db) => {
        const snapshots = await listSnapshots(db, name);
        const online = await listMaterializations(db, name);
        if (o.json) return json({ view: { ...view, prepare: view.prepare ? 'function' : null }, snapshots, online });
        print(`feature view ${view.name}  version ${view.digest}`);
        if (view.description) print(`  ${view.description}`);
        print(`  source     ${view.source.path}${view.source.limit ? ` (first ${view.source.limit} rows)` : ''}`);
        print(`  prepare    ${view.prepare ? 'code (its source is part of the version)' : 'none'}`);
        print(`  entities   ${view.entities.join(' + ')}`);
        print(`  timestamp  ${view.timestamp}, ttl ${view.ttl}, missing: ${view.missing}`);
        for (const f of view.features) print(`  feature    ${describeFeature(f)}`);
        print('');
        print('snapshots (offline store, Parquet parts by month):');
        print(
          snapshots.length
            ? formatTable([
                ['SNAPSHOT', 'DEFINITION', 'SOURCE', 'ROWS', 'ENTITIES', 'PARTS', 'EVENTS FROM', 'TO', 'CREATED'],
                ...snapshots.map((s) => [
                  short(s.snapshot),
                  s.viewDigest === view.digest ? 'current' : short(s.viewDigest),
                  short(s.sourceDigest),
                  String(s.rowCount),
                  String(s.entityCount),
                  String(s.parts),
                  when(s.minTime),
                  when(s.maxTime),
                  when(s.createdAt),
                ]),
              ])
            : '  none yet: cairn features materialize ' + name
        );
        print('');
        print('online writes (Redis):');
        print(
          online.length
            ? formatTable([
                ['SNAPSHOT', 'STORE', 'AS OF', 'AFTER', 'ENTITIES', 'WRITTEN', 'AT'],
                ...online.map((m) => [
                  short(m.snapshot),
                  m.store,
                  when(m.asOf),
                  when(m.after),
                  String(m.entities),
                  String(m.written),
                  when(m.createdAt),
                ]),
              ])
            : '  none yet'
        );
      });
    });

  features
    .command('materialize')
    .description('compute a view into the offline store, then write the latest values per entity to Redis')
    .argument('<view>', 'feature view name')
    .option('--as-of <time>', 'online values as of this time (ISO 8601); default now')
    .option('--full', 'rewrite every entity, not only those with events since the last write')
    .option('--offline-only', 'only the offline snapshot')
    .action(async (name: string, o: { asOf?: string; full?: boolean; offlineOnly?: boolean }) => {
      (await cliProject(loadConfig())).featureView(name);
      const asOf = o.asOf === undefined ? undefined : Date.parse(o.asOf);
      if (Number.isNaN(asOf)) throw new UsageError(`--as-of ${o.asOf}: expected an ISO 8601 time`);
      await withDb((db) => requirePrincipal(db));
      const result = await withClient(async (client, config) => {
        const handle = await client.workflow.start<typeof materializeFeatures>('materializeFeatures', {
          taskQueue: config.temporal.taskQueue,
          workflowId: `materialize-${name}-${randomUUID().slice(0, 8)}`,
          args: [
            {
              view: name,
              ...(asOf === undefined ? {} : { asOf }),
              ...(o.full ? { full: true } : {}),
              ...(o.offlineOnly ? { online: false } : {}),
              trainTaskQueue: config.temporal.trainTaskQueue,
            },
          ],
        });
        print(`started ${handle.workflowId}`);
        return handle.result();
      });
      const { offline, online } = result;
      print(
        `snapshot ${offline.snapshot}${offline.reused ? ' (already computed from this source)' : ''}: ${offline.rows} rows, ${offline.entities} entities, events to ${time(offline.maxTime)}`
      );
      if (online)
        print(
          `online   ${online.entities} entities as of ${time(online.asOf)}${online.after === undefined ? '' : ` (those with events after ${time(online.after)})`} to ${online.store}, ${online.written} values written`
        );
    });

  features
    .command('check')
    .description("compare sampled entities' online values with the offline snapshot at the same time (skew)")
    .argument('<view>', 'feature view name')
    .option('--sample <n>', 'entities to sample', '1000')
    .option('--json', 'print JSON')
    .action(async (name: string, o: { sample: string; json?: boolean }) => {
      const view = (await cliProject(loadConfig())).featureView(name);
      const sample = Number(o.sample);
      if (!Number.isInteger(sample) || sample < 1)
        throw new UsageError(`--sample ${o.sample}: expected a positive integer`);
      const skew = await withDb(async (db, store, config) => {
        const online = onlineStoreOf(config);
        const redis = await connectRedis(online.url, createLogger(config));
        try {
          return await checkViewSkew(
            { db, store, redis, online },
            { ...view, features: view.features.map((f) => f.name) },
            sample
          );
        } finally {
          redis.destroy();
        }
      });
      if (!skew) throw new UsageError(`feature view ${name} has no snapshot yet: cairn features materialize ${name}`);
      if (o.json) json(skew);
      else {
        print(
          `feature view ${name}: snapshot ${short(skew.snapshot)} against ${onlineStoreName(onlineStoreOf(loadConfig()))}`
        );
        print(
          `  ${skew.sampled} entities sampled, ${skew.compared} online and compared, ${skew.missingOnline} missing online, ${skew.skewed} skewed` +
            (skew.skewed ? ` (largest difference ${skew.maxAbsDiff})` : '')
        );
        for (const e of skew.examples)
          print(`  ${JSON.stringify(e.entity)} at ${e.time}: ${e.feature} online ${e.online}, offline ${e.offline}`);
      }
      if (skew.skewed || skew.missingOnline) process.exitCode = 1;
    });

  features
    .command('schedule')
    .description('materialise a view on a cron schedule (incremental: each run writes what changed)')
    .argument('<view>', 'feature view name')
    .requiredOption('--cron <expression>', 'cron expression, e.g. "*/15 * * * *"')
    .action(async (name: string, o: { cron: string }) => {
      (await cliProject(loadConfig())).featureView(name);
      const id = `materialize-${name}`;
      await asAdmin(
        'create',
        id,
        async (client, config) => {
          await createMaterializeSchedule(client, {
            view: name,
            cron: o.cron,
            taskQueue: config.temporal.taskQueue,
            trainTaskQueue: config.temporal.trainTaskQueue,
          });
          print(`schedule ${id}: materializeFeatures(${name}) on cron ${o.cron}`);
          return id;
        },
        { view: name, cron: o.cron }
      );
    });
}
