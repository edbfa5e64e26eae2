import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { listAudit, verifyAudit } from '../../lib/audit/log.js';
import { createToken, revokeToken } from '../../lib/auth/tokens.js';
import { changeDeployment, moves } from '../../lib/release/deployments.js';
import { runEntry } from '../helpers/cli.js';
import { registerTestVersion } from '../helpers/records.js';
import { useServices } from '../helpers/temporal.js';

const ctx = useServices();
const { deps } = ctx;

describe('audit trail', () => {
  it('records every state change in one hash chain that refuses edits, and verify names an edited row', async () => {
    const model = `audit-${randomUUID().slice(0, 8)}`;
    await registerTestVersion(deps, model);
    const { id: token } = await createToken(deps.db, `${model}-approver`, [`approver:${model}`]);
    await changeDeployment(deps.db, model, 'production', moves.promote(1, null), {
      action: 'promote',
      by: 'alice',
      reason: 'first release',
    });
    await revokeToken(deps.db, token);

    const trail = await listAudit(deps.db, { subject: model });
    expect(trail.map((e) => [e.actor, e.action, e.subject]).reverse()).toEqual([
      ['cairn', 'token.created', `${model}-approver`],
      ['alice', 'deployment.promote', `${model}/production`],
      ['alice', 'alias.moved', `${model}@production`],
      ['cairn', 'token.revoked', `${model}-approver`],
    ]);
    const promoted = trail.find((e) => e.action === 'deployment.promote')!;
    expect(promoted.details).toMatchObject({ stable: 1, revision: 1, reason: 'first release' });

    // Append-only for the application: the log and the history tables it is fed from refuse UPDATE and DELETE.
    for (const sql of [
      `UPDATE cairn.audit_log SET actor = 'mallory' WHERE seq = ${promoted.seq}`,
      `DELETE FROM cairn.audit_log WHERE seq = ${promoted.seq}`,
      `UPDATE cairn.deployment_history SET by = 'mallory' WHERE model = '${model}'`,
    ]) {
      await expect(deps.db.query(sql)).rejects.toThrow(/is append-only: (UPDATE|DELETE) refused/);
    }
    expect((await verifyAudit(deps.db)).broken).toBeUndefined();

    // Someone who can bypass the triggers (the database owner) edits a row: verify names it, and exits non-zero.
    const client = await deps.db.connect();
    try {
      await client.query(`SET session_replication_role = replica`);
      await client.query(`UPDATE cairn.audit_log SET actor = 'mallory' WHERE seq = $1`, [promoted.seq]);
      const verify = await runEntry('cli/main.ts', ['audit', 'verify']);
      expect(verify.code).toBe(3);
      expect(verify.stderr).toContain(
        `cairn: audit log broken at row ${promoted.seq}: its content does not match its hash (changed after it was written)`
      );
      await client.query(`UPDATE cairn.audit_log SET actor = 'alice' WHERE seq = $1`, [promoted.seq]);
    } finally {
      await client.query(`SET session_replication_role = DEFAULT`);
      client.release();
    }
    const intact = await runEntry('cli/main.ts', ['audit', 'verify']);
    expect(intact.code).toBe(0);
    expect(intact.stdout).toMatch(/^audit log intact: \d+ rows, head [0-9a-f]{64}$/m);
  });
});
