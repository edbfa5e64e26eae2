// `cairn prompts|indexes release|rollback|monitor|reports`: releases of prompt and index versions to an alias
// (releasePrompt, releaseIndex), rolling an alias back, and watching what it serves (monitorPrompt, monitorIndex).
import type { Command } from 'commander';
import { ALIASED, aliasState, setAlias } from '../lib/release/aliases.js';
import { rollbackSignal } from '../workflows/messages.js';
import { checkNowSignal } from '../workflows/monitor-model.js';
import type { monitorIndex, monitorPrompt } from '../workflows/monitor-alias.js';
import type { releaseIndex, releasePrompt } from '../workflows/release-alias.js';
import { requireRole, requireToken } from './auth.js';
import { json, print, UsageError, when, withClient, withDb } from './io.js';
import { formatTable } from './table.js';
import { followRelease } from './release.js';
import { uiLink } from './training.js';

/** Adds `release <name@version>` and `rollback <name>` to `group` (`cairn prompts`, `cairn indexes`). */
export function addAliasReleaseCommands(group: Command, kind: 'prompt' | 'index'): void {
  group
    .command('release')
    .description(`release a version to an alias: checklist, approval, then direct or canary (token: release:<${kind}>)`)
    .argument('<ref>', 'name@version')
    .option('--alias <alias>', 'the alias the version is to serve', 'production')
    .option('--strategy <kind>', 'direct or canary', 'direct')
    .option('--steps <list>', 'canary shares of requests, e.g. 0.1,0.5')
    .option('--observation <duration>', "how long each canary step lasts, e.g. '5m'")
    .option('--approval-timeout <duration>', "how long to wait for a decision, e.g. '24h'")
    .option('--wait', 'wait for the release to end and print its outcome')
    .action(
      async (
        text: string,
        o: {
          alias: string;
          strategy: string;
          steps?: string;
          observation?: string;
          approvalTimeout?: string;
          wait?: boolean;
        }
      ) => {
        const [name, at] = text.split('@', 2) as [string, string?];
        if (at === undefined || !/^\d+$/.test(at))
          throw new UsageError(`release takes <${kind}>@<version>, got ${text}`);
        if (o.strategy !== 'direct' && o.strategy !== 'canary')
          throw new UsageError(`--strategy ${o.strategy}: direct or canary`);
        const strategy =
          o.strategy === 'canary'
            ? {
                kind: 'canary' as const,
                ...(o.steps ? { steps: o.steps.split(',').map(Number) } : {}),
                ...(o.observation ? { observation: o.observation } : {}),
              }
            : { kind: 'direct' as const };
        const token = requireToken(`release:${name}`);
        const version = Number(at);
        const common = {
          version,
          alias: o.alias,
          strategy,
          token,
          ...(o.approvalTimeout ? { approvalTimeout: o.approvalTimeout } : {}),
        };
        await withClient(async (client, config) => {
          const workflowId = `release-${kind}-${name}-v${version}-${o.alias}`;
          const options = { taskQueue: config.temporal.taskQueue, workflowId };
          const handle =
            kind === 'prompt'
              ? await client.workflow.start<typeof releasePrompt>('releasePrompt', {
                  ...options,
                  args: [{ prompt: name, ...common }],
                })
              : await client.workflow.start<typeof releaseIndex>('releaseIndex', {
                  ...options,
                  args: [{ index: name, ...common }],
                });
          await followRelease(handle, uiLink(config, workflowId), `approver:${name}`, o.wait === true);
        });
      }
    );

  group
    .command('rollback')
    .description(
      `end an alias's running canary, or point the alias back at the version it served before (release:<${kind}>)`
    )
    .argument('<name>', `${kind} name`)
    .option('--alias <alias>', 'the alias', 'production')
    .option('-r, --reason <text>', 'why', 'manual rollback')
    .action(async (name: string, o: { alias: string; reason: string }) => {
      await withDb(async (db) => {
        const { principal } = await requireRole(`release:${name}`, db);
        const state = await aliasState(db, ALIASED[kind], name, o.alias);
        if (!state) throw new UsageError(`${kind} ${name} has no alias ${o.alias}`);
        if (state.canary !== null && state.releaseId) {
          // A canary belongs to its release: the workflow ends it and records the outcome.
          const [workflowId, runId] = state.releaseId.split('/');
          await withClient((client) =>
            client.workflow
              .getHandle(workflowId!, runId)
              .signal(rollbackSignal, { token: requireToken(`release:${name}`), reason: o.reason })
          );
          print(`asked release ${state.releaseId} to roll back the canary of ${name}@${state.canary}`);
          return;
        }
        if (state.previous === null) throw new UsageError(`${name}@${o.alias} has no previous version to roll back to`);
        await setAlias(db, ALIASED[kind], name, o.alias, state.previous, principal, o.reason);
        print(`${name}@${o.alias} -> ${state.previous} (was ${state.version}), by ${principal}: ${o.reason}`);
      });
    });
}

/** Adds `monitor <name>` and `reports <name>` to `group` (`cairn prompts`, `cairn indexes`). */
export function addAliasMonitorCommands(group: Command, kind: 'prompt' | 'index'): void {
  const watched =
    kind === 'index' ? 'query embedding drift, empty results, latency; an alert asks for a rebuild' : 'refused renders';
  group
    .command('monitor')
    .description(`watch an alias: ${watched} (monitor${kind === 'index' ? 'Index' : 'Prompt'})`)
    .argument('<name>', `${kind} name`)
    .option('--alias <alias>', 'the alias', 'production')
    .option('--interval <duration>', "how often to check, e.g. '15m'", '15m')
    .option('--check-now', 'ask a running monitor to check now')
    .action(async (name: string, o: { alias: string; interval: string; checkNow?: boolean }) => {
      await withClient(async (client, config) => {
        const workflowId = `monitor-${kind}-${name}-${o.alias}`;
        const options = {
          workflowId,
          taskQueue: config.temporal.taskQueue,
          workflowIdConflictPolicy: 'USE_EXISTING' as const,
        };
        const common = { alias: o.alias, interval: o.interval };
        const handle =
          kind === 'index'
            ? await client.workflow.start<typeof monitorIndex>('monitorIndex', {
                ...options,
                args: [{ index: name, ...common }],
              })
            : await client.workflow.start<typeof monitorPrompt>('monitorPrompt', {
                ...options,
                args: [{ prompt: name, ...common }],
              });
        if (o.checkNow) await handle.signal(checkNowSignal);
        print(
          `${workflowId}: watching ${name}@${o.alias}${o.checkNow ? ', checking now' : ''}: ${uiLink(config, workflowId)}`
        );
      });
    });

  group
    .command('reports')
    .description(`a ${kind}'s monitoring reports, newest first`)
    .argument('<name>', `${kind} name`)
    .option('-n, --limit <n>', 'how many', '10')
    .option('--json', 'print JSON')
    .action(async (name: string, o: { limit: string; json?: boolean }) => {
      await withDb(async (db) => {
        const { rows } = await db.query<{
          seq: number;
          version: number;
          status: string;
          windowEnd: Date;
          summary: string;
          rebuildId: string | null;
        }>(
          `SELECT seq, version, status, window_end AS "windowEnd", report->>'summary' AS summary,
             rebuild_id AS "rebuildId"
           FROM cairn.alias_reports WHERE kind = $1 AND name = $2 ORDER BY window_end DESC, id DESC LIMIT $3`,
          [kind, name, Number(o.limit)]
        );
        if (o.json) return json(rows);
        if (!rows.length)
          return print(`no reports for ${name} yet: cairn ${kind === 'index' ? 'indexes' : 'prompts'} monitor ${name}`);
        print(
          formatTable([
            ['SEQ', 'VERSION', 'STATUS', 'WINDOW END', ...(kind === 'index' ? ['REBUILD'] : []), 'SUMMARY'],
            ...rows.map((r) => [
              String(r.seq),
              String(r.version),
              r.status,
              when(r.windowEnd),
              ...(kind === 'index' ? [r.rebuildId ?? '-'] : []),
              r.summary,
            ]),
          ])
        );
      });
    });
}
