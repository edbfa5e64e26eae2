import type { Queryable } from '../db/pool.js';

/** One state change, as the audit log holds it (written by triggers, see infra/migrations/*_audit-trail.sql). */
export interface AuditEntry {
  seq: number;
  at: Date;
  actor: string;
  action: string;
  subject: string;
  details: Record<string, unknown>;
  prevHash: string;
  hash: string;
}

/** Appends a state change the tables do not record themselves (a refused request, a schedule change). */
export async function recordAudit(
  db: Queryable,
  entry: { actor: string; action: string; subject: string; details?: Record<string, unknown> }
): Promise<void> {
  await db.query('SELECT cairn.audit($1, $2, $3, $4)', [
    entry.actor,
    entry.action,
    entry.subject,
    JSON.stringify(entry.details ?? {}),
  ]);
}

export async function listAudit(
  db: Queryable,
  filter: { subject?: string; action?: string; limit?: number } = {}
): Promise<AuditEntry[]> {
  const { rows } = await db.query<AuditEntry>(
    `SELECT seq, at, actor, action, subject, details, prev_hash AS "prevHash", hash FROM cairn.audit_log
     WHERE ($1::text IS NULL OR subject LIKE $1 || '%') AND ($2::text IS NULL OR action LIKE $2 || '%')
     ORDER BY seq DESC LIMIT $3`,
    [filter.subject ?? null, filter.action ?? null, filter.limit ?? 50]
  );
  return rows;
}

export interface AuditVerification {
  /** Rows checked. */
  rows: number;
  /** The hash of the last row: record it elsewhere to detect a cut-off tail later. */
  head: string | null;
  /** The first row that breaks the chain, and how. */
  broken?: { seq: number; reason: string };
}

const GENESIS = '0'.repeat(64);
const PAGE = 5000;

/**
 * Recomputes the chain from the first row: every row's hash must match its content and the previous row's hash, and
 * the sequence must have no gap. Names the first row that fails.
 */
export async function verifyAudit(db: Queryable): Promise<AuditVerification> {
  let prev = { seq: 0, hash: GENESIS };
  let rows = 0;
  for (;;) {
    const page = await db.query<{ seq: number; prevHash: string; hash: string; recomputed: string }>(
      `SELECT seq, prev_hash AS "prevHash", hash,
         cairn.audit_hash(prev_hash, seq, at, actor, action, subject, details) AS recomputed
       FROM cairn.audit_log WHERE seq > $1 ORDER BY seq LIMIT $2`,
      [prev.seq, PAGE]
    );
    for (const r of page.rows) {
      rows++;
      const reason =
        r.seq !== prev.seq + 1
          ? `rows ${prev.seq + 1}..${r.seq - 1} are missing`
          : r.prevHash !== prev.hash
            ? `its previous-row hash ${r.prevHash.slice(0, 12)}… is not row ${prev.seq}'s hash ${prev.hash.slice(0, 12)}…`
            : r.recomputed !== r.hash
              ? `its content does not match its hash (changed after it was written)`
              : undefined;
      if (reason) return { rows, head: prev.seq ? prev.hash : null, broken: { seq: r.seq, reason } };
      prev = { seq: r.seq, hash: r.hash };
    }
    if (page.rows.length < PAGE) return { rows, head: prev.seq ? prev.hash : null };
  }
}
