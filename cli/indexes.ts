// `cairn indexes …` and `cairn embeddings list`: vector index versions (lineage, gate), aliases, and search.
import type { Command } from 'commander';
import {
  listEmbeddingModels,
  listVectorIndexes,
  resolveVectorIndex,
  setVectorIndexAlias,
} from '../lib/embeddings/registry.js';
import { createRebuildSchedule } from '../lib/temporal/schedules.js';
import { getRun } from '../lib/tracking/queries.js';
import { asAdmin } from './schedule.js';
import type { VectorIndexVersion } from '../lib/embeddings/registry.js';
import { PROMPT_NAME } from '../lib/prompts/prompt.js';
import { IndexSearch } from '../serving/indexes.js';
import { addAliasMonitorCommands, addAliasReleaseCommands } from './alias-release.js';
import { requireRole } from './auth.js';
import { json, print, UsageError, when, withDb } from './io.js';
import { formatTable, short } from './table.js';

const metric = (v: VectorIndexVersion, name: string) => {
  const value = v.metrics[name];
  return value === undefined ? '-' : name.startsWith('recall') ? value.toFixed(4) : `${value.toFixed(2)} ms`;
};

export function addIndexCommands(program: Command): void {
  program
    .command('embeddings')
    .description('embedding models (imported by the embedding-model step)')
    .command('list')
    .description('embedding model versions: package, version, weights digest')
    .option('--json', 'print JSON')
    .action(async (o: { json?: boolean }) => {
      await withDb(async (db) => {
        const rows = await listEmbeddingModels(db);
        if (o.json) return json(rows);
        if (!rows.length) return print('no embedding models yet: run a pipeline with the embedding-model step');
        print(
          formatTable([
            ['MODEL', 'VERSION', 'PACKAGE', 'WEIGHTS', 'DIMENSIONS', 'RUN', 'AT'],
            ...rows.map((m) => [
              m.name,
              String(m.version),
              `${m.package}==${m.packageVersion}`,
              short(m.weightsDigest),
              String(m.dimensions),
              m.runId,
              when(m.createdAt),
            ]),
          ])
        );
      });
    });

  const indexes = program
    .command('indexes')
    .description('vector indexes: list, release, rollback, alias, search, monitor, reports');
  indexes
    .command('list')
    .description('vector index versions: digest, embedding model, corpus, gate, aliases')
    .argument('[name]', 'only this index')
    .option('--json', 'print JSON')
    .action(async (name: string | undefined, o: { json?: boolean }) => {
      await withDb(async (db) => {
        const rows = await listVectorIndexes(db, name);
        if (o.json) return json(rows);
        if (!rows.length) return print('no vector indexes yet: run a pipeline with the vectorIndex recipe');
        print(
          formatTable([
            ['INDEX', 'VERSION', 'DIGEST', 'EMBEDDING MODEL', 'CORPUS', 'RECALL@10', 'P99', 'GATE', 'ALIASES', 'AT'],
            ...rows.map((v) => [
              v.name,
              String(v.version),
              short(v.digest),
              `${v.embeddingModel}@${v.embeddingVersion}`,
              short(v.corpus),
              metric(v, 'recall@10'),
              metric(v, 'p99Ms'),
              v.passed ? 'passed' : 'failed',
              v.aliases.join(' ') || '-',
              when(v.createdAt),
            ]),
          ])
        );
      });
    });

  addAliasReleaseCommands(indexes, 'index');
  addAliasMonitorCommands(indexes, 'index');

  indexes
    .command('schedule')
    .description(
      'rebuild the index on a cron schedule with the pipeline and config of the version an alias serves (admin)'
    )
    .argument('<name>', 'index name')
    .requiredOption('--cron <expression>', 'cron expression, e.g. "0 3 * * *"')
    .option('--alias <alias>', 'the alias whose version is rebuilt', 'production')
    .action(async (name: string, o: { cron: string; alias: string }) => {
      const built = await withDb(async (db) => {
        const served = await resolveVectorIndex(db, `${name}@${o.alias}`).catch((err: Error) => {
          throw new UsageError(err.message);
        });
        const run = await getRun(db, served.runId);
        if (!run) throw new UsageError(`the run that built ${name}@${served.version} is not recorded`);
        return { pipeline: run.pipeline, config: run.config as Record<string, unknown> };
      });
      const id = `rebuild-${name}`;
      await asAdmin(
        'create',
        id,
        async (client, config) => {
          await createRebuildSchedule(client, {
            index: name,
            ...built,
            cron: o.cron,
            taskQueue: config.temporal.taskQueue,
          });
          print(`schedule ${id}: rebuildIndex(${name}, pipeline ${built.pipeline}) on cron ${o.cron}`);
          return id;
        },
        { index: name, cron: o.cron }
      );
    });

  indexes
    .command('alias')
    .description(
      'point an alias (production, staging, ...) of an index at a version that passed its gate (role release:<index>)'
    )
    .argument('<name>', 'index name')
    .argument('<alias>', 'alias name')
    .argument('<version>', 'version number')
    .action(async (name: string, alias: string, version: string) => {
      if (!/^\d+$/.test(version)) throw new UsageError(`version ${JSON.stringify(version)}: expected a number`);
      if (!PROMPT_NAME.test(alias)) throw new UsageError(`alias ${JSON.stringify(alias)}: expected ${PROMPT_NAME}`);
      await withDb(async (db) => {
        const { principal } = await requireRole(`release:${name}`, db);
        const { previous } = await setVectorIndexAlias(
          db,
          name,
          alias,
          Number(version),
          principal,
          'cairn indexes alias'
        );
        print(`${name}@${alias} -> ${version}${previous === null ? '' : ` (was ${previous})`}, by ${principal}`);
      });
    });

  indexes
    .command('search')
    .description('search an index version here, as POST /v1/indexes/:name/search does (name, name@3, name@staging)')
    .argument('<ref>', 'index reference (default alias production)')
    .argument('<query>', 'the query text')
    .option('-k, --k <n>', 'neighbours', '5')
    .option('--json', 'print JSON')
    .action(async (ref: string, query: string, o: { k: string; json?: boolean }) => {
      const [name, at] = ref.split('@', 2) as [string, string?];
      await withDb(async (db, store) => {
        const body = {
          query,
          k: Number(o.k),
          ...(at === undefined ? {} : /^\d+$/.test(at) ? { version: Number(at) } : { alias: at }),
        };
        const answer = await new IndexSearch(db, store, 0).search(name, body).catch((err: Error) => {
          throw new UsageError(err.message);
        });
        if (o.json) return json(answer);
        print(
          `${answer.index}@${answer.version} (${short(answer.digest)}), embedded with ${answer.embeddingModel.name}@${answer.embeddingModel.version}`
        );
        print(
          formatTable([
            ['DISTANCE', 'ID', 'TEXT'],
            ...answer.neighbours.map((n) => [
              n.distance.toFixed(4),
              n.id,
              n.text.length > 90 ? `${n.text.slice(0, 89)}…` : n.text,
            ]),
          ])
        );
      });
    });
}
