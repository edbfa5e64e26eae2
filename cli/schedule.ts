// `cairn schedule …`: Temporal Schedules that start retrainModel; the same schedules `temporal schedule` shows.
import { parseSets, resolveRunConfig } from '../lib/pipeline/run-config.js';
import type { Command } from 'commander';
import { resolvePipeline } from '../pipelines/index.js';
import {
  createPruneSchedule,
  createRetrainSchedule,
  describeSpec,
  listSchedules,
  OVERLAP_POLICIES,
  PRUNE_SCHEDULE,
} from '../lib/temporal/schedules.js';
import type { OverlapPolicy } from '../lib/temporal/schedules.js';
import type { Client } from '@temporalio/client';
import { recordAudit } from '../lib/audit/log.js';
import type { CairnConfig } from '../lib/config/index.js';
import { requireRole } from './auth.js';
import { json, print, UsageError, when, withClient, withDb } from './io.js';
import { formatTable } from './table.js';

/** A schedule change: made as the admin whose token is presented, and written to the audit log. */
export async function asAdmin(
  action: string,
  scheduleId: string | undefined,
  change: (client: Client, config: CairnConfig, principal: string) => Promise<string>,
  details: Record<string, unknown> = {}
): Promise<void> {
  await withDb(async (db) => {
    const { principal } = await requireRole('admin', db);
    const id = await withClient((client, config) => change(client, config, principal));
    await recordAudit(db, { actor: principal, action: `schedule.${action}`, subject: scheduleId ?? id, details });
  });
}

export function addScheduleCommands(program: Command): void {
  const schedule = program.command('schedule').description('scheduled retraining (Temporal Schedules)');

  schedule
    .command('create')
    .description('retrain a pipeline on a cron schedule; each run waits for approval before anything is promoted')
    .argument('<pipeline>', 'pipeline name')
    .requiredOption('--cron <expression>', 'cron expression, e.g. "0 3 * * 1" (Mondays 03:00 UTC)')
    .option('--id <scheduleId>', 'schedule id (default retrain-<pipeline>)')
    .option('--model <name>', 'the registered model each run makes a version of (default the pipeline name)')
    .option('-e, --env <environment>', 'environment the retrained model is released to', 'production')
    .option(
      '--overlap <policy>',
      `when the previous run still runs: ${Object.keys(OVERLAP_POLICIES).join(', ')}`,
      'skip'
    )
    .option('--paused', 'create it paused')
    .option('--note <text>', 'a note shown with the schedule')
    .option(
      '-s, --set <key=value>',
      'override a config key in every run (repeatable), e.g. source=s3://cairn/data/flights',
      (value: string, previous: string[]) => [...previous, value],
      []
    )
    .action(
      async (
        pipeline: string,
        o: {
          cron: string;
          id?: string;
          model?: string;
          env: string;
          overlap: string;
          paused?: boolean;
          note?: string;
          set: string[];
        }
      ) => {
        const config = parseSets(o.set, pipeline);
        resolveRunConfig(resolvePipeline(pipeline), config);
        if (!(o.overlap in OVERLAP_POLICIES)) {
          throw new UsageError(
            `unknown overlap policy ${o.overlap} (policies: ${Object.keys(OVERLAP_POLICIES).join(', ')})`
          );
        }
        await asAdmin(
          'created',
          o.id,
          async (client, config, principal) => {
            const handle = await createRetrainSchedule(client, {
              pipeline,
              ...(o.model ? { model: o.model } : {}),
              cron: o.cron,
              taskQueue: config.temporal.taskQueue,
              environment: o.env,
              config,
              overlap: o.overlap as OverlapPolicy,
              requestedBy: principal,
              ...(o.id ? { scheduleId: o.id } : {}),
              ...(o.paused ? { paused: true } : {}),
              ...(o.note ? { note: o.note } : {}),
            });
            print(
              `created schedule ${handle.scheduleId}: retrainModel ${pipeline} at "${o.cron}", overlap ${o.overlap}`
            );
            return handle.scheduleId;
          },
          { pipeline, cron: o.cron, environment: o.env, overlap: o.overlap, config }
        );
      }
    );

  schedule
    .command('prune-logs')
    .description("delete logged predictions older than each model's retention (predictionLog.retention, default 30d)")
    .option('--cron <expression>', 'when', '17 * * * *')
    .action(async (o: { cron: string }) => {
      await asAdmin(
        'created',
        PRUNE_SCHEDULE,
        async (client, config) => {
          await createPruneSchedule(client, { taskQueue: config.temporal.taskQueue, cron: o.cron });
          print(`created schedule ${PRUNE_SCHEDULE}: pruneLogs at "${o.cron}"`);
          return PRUNE_SCHEDULE;
        },
        { cron: o.cron }
      );
    });

  schedule
    .command('list')
    .option('--json', 'print JSON')
    .action(async (o: { json?: boolean }) => {
      await withClient(async (client) => {
        const rows = await listSchedules(client);
        if (o.json) return json(rows);
        print(
          formatTable([
            ['schedule', 'workflow', 'when', 'state', 'next run', 'runs'],
            ...rows.map((s) => [
              s.id,
              s.workflowType,
              s.spec,
              s.paused ? `paused ${s.note}`.trim() : 'active',
              when(s.nextRun),
              String(s.recentRuns),
            ]),
          ])
        );
      });
    });

  schedule
    .command('describe')
    .argument('<scheduleId>')
    .option('--json', 'print JSON')
    .action(async (id: string, o: { json?: boolean }) => {
      await withClient(async (client) => {
        const d = await client.schedule.getHandle(id).describe();
        if (o.json) return json(d);
        const action = d.action.type === 'startWorkflow' ? d.action : undefined;
        print(`${d.scheduleId}  ${d.state.paused ? 'paused' : 'active'}${d.state.note ? ` (${d.state.note})` : ''}`);
        print(`  when      ${describeSpec(d.spec, d.memo)}`);
        print(`  starts    ${action?.workflowType ?? '-'} ${JSON.stringify(action?.args?.[0] ?? {})}`);
        print(`  overlap   ${d.policies.overlap}`);
        print(
          `  next      ${
            d.info.nextActionTimes
              .slice(0, 3)
              .map((t) => when(t))
              .join(', ') || '-'
          }`
        );
        for (const a of d.info.recentActions) print(`  ran       ${when(a.takenAt)}  ${a.action.workflow.workflowId}`);
      });
    });

  for (const [name, description] of [
    ['pause', 'pause a schedule'],
    ['unpause', 'resume a paused schedule'],
  ] as const) {
    schedule
      .command(name)
      .description(description)
      .argument('<scheduleId>')
      .option('--note <text>', 'why')
      .action(async (id: string, o: { note?: string }) => {
        await asAdmin(
          `${name}d`,
          id,
          async (client) => {
            await client.schedule.getHandle(id)[name](o.note);
            print(`${id} ${name}d`);
            return id;
          },
          o.note ? { note: o.note } : {}
        );
      });
  }

  schedule
    .command('trigger')
    .description('start the scheduled workflow now')
    .argument('<scheduleId>')
    .action(async (id: string) => {
      await asAdmin('triggered', id, async (client) => {
        await client.schedule.getHandle(id).trigger();
        print(`${id} triggered`);
        return id;
      });
    });

  schedule
    .command('backfill')
    .description('run what the schedule would have started between two times')
    .argument('<scheduleId>')
    .requiredOption('--start <time>', 'ISO time')
    .requiredOption('--end <time>', 'ISO time')
    .action(async (id: string, o: { start: string; end: string }) => {
      const [start, end] = [new Date(o.start), new Date(o.end)];
      if (Number.isNaN(start.getTime()) || Number.isNaN(end.getTime()) || start >= end) {
        throw new UsageError(`backfill needs --start before --end as ISO times, got ${o.start} .. ${o.end}`);
      }
      await asAdmin(
        'backfilled',
        id,
        async (client) => {
          await client.schedule.getHandle(id).backfill({ start, end });
          print(`${id} backfilled ${when(start)} .. ${when(end)}`);
          return id;
        },
        { start: o.start, end: o.end }
      );
    });

  schedule
    .command('delete')
    .argument('<scheduleId>')
    .action(async (id: string) => {
      await asAdmin('deleted', id, async (client) => {
        await client.schedule.getHandle(id).delete();
        print(`${id} deleted`);
        return id;
      });
    });
}
