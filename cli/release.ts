// `cairn release|approve|reject|rollback|deployments|tokens`: releases are releaseModel workflows; the rest is SQL.
import type { Command } from 'commander';
import {
  createToken,
  DEFAULT_TOKEN_LIFETIME,
  hasAdmin,
  isRole,
  listTokens,
  revokeToken,
  ROLE_FORMS,
} from '../lib/auth/tokens.js';
import type { Role } from '../lib/auth/tokens.js';
import { AccessDeniedError, requireRole, requireToken } from './auth.js';
import { changeDeployment, getDeployment, listDeployments, moves } from '../lib/release/deployments.js';
import { DEFAULT_REPLICA_TIMEOUT, listReplicas } from '../lib/release/fleet.js';
import { durationMs } from '../lib/config/duration.js';
import type { Pool } from '../lib/db/pool.js';
import { ModelRefError, parseModelRef } from '../lib/registry/model-ref.js';
import { rollbackSignal } from '../workflows/messages.js';
import { decideRelease } from '../lib/release/decide.js';
import type { ReleaseModelInput, releaseModel } from '../workflows/release-model.js';
import { json, print, UsageError, when, withClient, withDb } from './io.js';
import { formatTable } from './table.js';
import { consolePage, describeFailure, EXIT, uiLink } from './training.js';

async function decide(workflowId: string, decision: 'approve' | 'reject', comment?: string) {
  const token = requireToken('approver:<model>' as Role);
  await withClient(async (client) => {
    const outcome = await decideRelease(client, workflowId, { decision, token, ...(comment ? { comment } : {}) });
    if (outcome.ok) {
      const r = outcome.result;
      print(`${workflowId}: ${r.decision === 'approve' ? 'approved' : 'rejected'} by ${r.by} at ${r.at}`);
      return;
    }
    process.stderr.write(`cairn: ${decision} refused: ${outcome.message}\n`);
    process.exitCode = outcome.refused ? EXIT.denied : EXIT.badRequest;
  });
}

/**
 * What every release command prints once its workflow started: where to watch it and how to approve it; with `wait`,
 * its outcome (exit 0 when promoted, 3 when rejected or rolled back, 1 when it failed). `extra` lines come after the
 * link.
 */
export async function followRelease(
  handle: { workflowId: string; result(): Promise<{ status: string; outcome: string }> },
  link: string,
  approverRole: string,
  wait: boolean,
  extra: string[] = []
): Promise<void> {
  const { workflowId } = handle;
  print(`started ${workflowId}: ${link}`);
  for (const line of extra) print(line);
  print(`approve with:  cairn approve ${workflowId}   (CAIRN_TOKEN: a token with ${approverRole})`);
  print(
    `           or  temporal workflow signal --workflow-id ${workflowId} --name approve -i '{"token":"<approver token>"}'`
  );
  if (!wait) return;
  try {
    const r = await handle.result();
    print(`${r.status}: ${r.outcome}`);
    process.exitCode = r.status === 'promoted' ? EXIT.ok : EXIT.gateFailed;
  } catch (err) {
    process.stderr.write(`cairn: ${describeFailure(err)}\n`);
    process.exitCode = EXIT.failed;
  }
}

export function addReleaseCommands(program: Command): void {
  program
    .command('release')
    .description('start a release: checklist, wait for approval, then direct or canary rollout')
    .argument('<ref>', '<model>@<version>')
    .option('-e, --env <environment>', 'environment', 'production')
    .option('--strategy <kind>', 'direct or canary', 'direct')
    .option('--steps <list>', 'canary traffic steps, e.g. 0.1,0.5,1')
    .option('--observation <duration>', "how long each canary step is watched, e.g. '5m'")
    .option('--approval-timeout <duration>', "how long to wait for a decision, e.g. '24h'")
    .option('--first', 'the first release of this model to the environment (no rollback target)')
    .option('--wait', 'wait for the release to end and print its outcome')
    .action(async (ref: string, o: Record<string, string | boolean | undefined>) => {
      const parsed = parseModelRef(ref);
      if (parsed.version === undefined) throw new ModelRefError(`release takes <model>@<version>, got ${ref}`);
      const strategy =
        o.strategy === 'canary'
          ? {
              kind: 'canary' as const,
              ...(o.steps ? { steps: String(o.steps).split(',').map(Number) } : {}),
              ...(o.observation ? { observation: String(o.observation) } : {}),
            }
          : { kind: 'direct' as const };
      const input: ReleaseModelInput = {
        model: parsed.model,
        version: parsed.version,
        environment: String(o.env),
        strategy,
        first: o.first === true,
        token: requireToken(`release:${parsed.model}`),
        ...(o.approvalTimeout ? { approvalTimeout: String(o.approvalTimeout) } : {}),
      };
      await withClient(async (client, config) => {
        const workflowId = `release-${parsed.model}-v${parsed.version}-${input.environment}`;
        const handle = await client.workflow.start<typeof releaseModel>('releaseModel', {
          taskQueue: config.temporal.taskQueue,
          workflowId,
          args: [input],
        });
        await followRelease(handle, uiLink(config, workflowId), `approver:${parsed.model}`, o.wait === true, [
          `console: ${consolePage(config, 'releases', workflowId)} (cairn ui: approve there, with a token)`,
        ]);
      });
    });

  program
    .command('approve')
    .description('approve a release waiting for a decision (the `decide` update: refused at once without the role)')
    .argument('<workflowId>', 'the release workflow')
    .option('-c, --comment <text>', 'why')
    .action((workflowId: string, o: { comment?: string }) => decide(workflowId, 'approve', o.comment));

  program
    .command('reject')
    .description('reject a release waiting for a decision')
    .argument('<workflowId>', 'the release workflow')
    .option('-c, --comment <text>', 'why')
    .action((workflowId: string, o: { comment?: string }) => decide(workflowId, 'reject', o.comment));

  program
    .command('rollback')
    .description('roll a model back: ends a running canary, or returns to the previous stable version')
    .argument('<model>', 'model name')
    .option('-e, --env <environment>', 'environment', 'production')
    .option('-r, --reason <text>', 'why', 'manual rollback')
    .action(async (model: string, o: { env: string; reason: string }) => {
      await withDb(async (db) => {
        const { principal } = await requireRole(`release:${model}`, db);
        const current = await getDeployment(db, model, o.env);
        if (!current) throw new ModelRefError(`nothing serves ${model} in ${o.env}`);
        if (current.canaryVersion !== null && current.releaseId) {
          // A canary belongs to its release: the workflow rolls back and records the outcome.
          const [workflowId, runId] = current.releaseId.split('/');
          await withClient((client) =>
            client.workflow
              .getHandle(workflowId!, runId)
              .signal(rollbackSignal, { token: requireToken(`release:${model}`), reason: o.reason })
          );
          print(`asked release ${current.releaseId} to roll back the canary of ${model}@${current.canaryVersion}`);
          return;
        }
        const d = await changeDeployment(db, model, o.env, moves.rollback(), {
          action: 'rollback',
          by: principal,
          reason: o.reason,
        });
        print(`${model} in ${o.env}: ${model}@${d.stableVersion} serves again (was ${current.stableVersion})`);
      });
    });

  const deployments = program.command('deployments').description('what serves where');
  deployments
    .command('list')
    .option('-m, --model <name>', 'only this model')
    .option('-e, --env <environment>', 'only this environment')
    .option('--json', 'print JSON')
    .action(async (o: { model?: string; env?: string; json?: boolean }) => {
      await withDb(async (db) => {
        const rows = await listDeployments(db, {
          ...(o.model ? { model: o.model } : {}),
          ...(o.env ? { environment: o.env } : {}),
        });
        if (o.json) return json(rows);
        print(
          formatTable([
            ['model', 'environment', 'stable', 'canary', 'weight', 'rollback to', 'revision', 'updated'],
            ...rows.map((d) => [
              d.model,
              d.environment,
              `v${d.stableVersion}`,
              d.canaryVersion === null ? '-' : `v${d.canaryVersion}`,
              d.canaryVersion === null ? '-' : `${Math.round(d.canaryWeight * 100)}%`,
              d.previousVersion === null ? '-' : `v${d.previousVersion}`,
              String(d.revision),
              when(d.updatedAt),
            ]),
          ])
        );
      });
    });

  deployments
    .command('status')
    .description('the replicas serving each environment: what each has loaded and serves, and what it failed to load')
    .option('-e, --env <environment>', 'only this environment')
    .option('--json', 'print JSON')
    .action(async (o: { env?: string; json?: boolean }) => {
      await withDb(async (db) => {
        const replicas = await listReplicas(db, o.env);
        if (o.json) return json(replicas);
        const liveWithin = durationMs(DEFAULT_REPLICA_TIMEOUT) / 1000;
        if (!replicas.length)
          return print(`no replica has reported${o.env ? ` in ${o.env}` : ''} (start one with: cairn serve)`);
        print(
          formatTable([
            ['replica', 'kind', 'environment', 'state', 'serves', 'loaded', 'load errors'],
            ...replicas.map((r) => [
              r.id,
              r.kind,
              r.environment,
              r.age <= liveWithin ? `live (${r.age.toFixed(1)}s)` : `gone (silent ${Math.round(r.age)}s)`,
              r.routes
                .map(
                  (x) =>
                    `${x.model}@${x.stable}${x.canary === null ? '' : ` +${x.model}@${x.canary} ${Math.round(x.weight * 100)}%`} (rev ${x.revision})`
                )
                .join(', ') || '-',
              r.loaded.join(', ') || '-',
              r.errors.map((e) => `${e.model}@${e.version}: ${e.error}`).join('; ') || '-',
            ]),
          ])
        );
      });
    });

  const tokens = program.command('tokens').description('API tokens: who may predict, release, approve, administer');
  const roleOption = (v: string, all: string[]) => [...all, v];
  const lifetime = (expires: string) => (expires === 'never' ? null : durationMs(expires));
  const issue = async (principal: string, roles: string[], expires: string, by: string, db: Pool) => {
    const unknown = roles.filter((r) => !isRole(r));
    if (unknown.length)
      throw new UsageError(`unknown role ${unknown.join(', ')} (roles: ${ROLE_FORMS.join(', ')}; <model> may be *)`);
    const t = await createToken(db, principal, roles as Role[], { lifetimeMs: lifetime(expires), by });
    print(`token ${t.id} for ${principal} (${roles.join(', ')}), expires ${when(t.expiresAt)}; shown once:`);
    print(t.token);
  };
  tokens
    .command('create')
    .description('issue a token (needs an admin token)')
    .requiredOption('-p, --principal <name>', 'who the token belongs to')
    .option('-r, --role <role>', `role (repeatable): ${ROLE_FORMS.join(', ')}; <model> may be *`, roleOption, [])
    .option('--expires <duration>', "lifetime, e.g. '30d', or 'never'", DEFAULT_TOKEN_LIFETIME)
    .action(async (o: { principal: string; role: string[]; expires: string }) => {
      if (!o.role.length) throw new UsageError(`name at least one --role (${ROLE_FORMS.join(', ')})`);
      await withDb(async (db) => {
        const admin = await requireRole('admin', db);
        await issue(o.principal, o.role, o.expires, admin.principal, db);
      });
    });
  tokens
    .command('bootstrap')
    .description('issue the first admin token: refused once a live admin token exists')
    .requiredOption('-p, --principal <name>', 'who the token belongs to')
    .option('--expires <duration>', "lifetime, e.g. '30d', or 'never'", DEFAULT_TOKEN_LIFETIME)
    .action(async (o: { principal: string; expires: string }) => {
      await withDb(async (db) => {
        if (await hasAdmin(db))
          throw new AccessDeniedError('a live admin token exists: ask its holder (cairn tokens create --role admin)');
        await issue(o.principal, ['admin'], o.expires, 'bootstrap', db);
      });
    });
  tokens
    .command('list')
    .description('every token: principal, roles, expiry, revocation (needs an admin token)')
    .option('--json', 'print JSON')
    .action(async (o: { json?: boolean }) => {
      await withDb(async (db) => {
        await requireRole('admin', db);
        const rows = await listTokens(db);
        if (o.json) return json(rows);
        print(
          formatTable([
            ['id', 'principal', 'roles', 'issued by', 'created', 'expires', 'revoked'],
            ...rows.map((t) => [
              t.id,
              t.principal,
              t.roles.join(', '),
              t.createdBy,
              when(t.createdAt),
              when(t.expiresAt),
              when(t.revokedAt),
            ]),
          ])
        );
      });
    });
  tokens
    .command('revoke')
    .description('revoke a token: every server refuses it at once (needs an admin token)')
    .argument('<id>', 'token id')
    .action(async (id: string) => {
      await withDb(async (db) => {
        const admin = await requireRole('admin', db);
        print((await revokeToken(db, id, admin.principal)) ? `token ${id} revoked` : `no live token ${id}`);
      });
    });
}
