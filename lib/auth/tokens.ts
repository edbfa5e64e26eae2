import { createHash, randomBytes } from 'node:crypto';
import type { Queryable } from '../db/pool.js';

export const ROLES = ['predict', 'approver', 'admin'] as const;
/** A role everywhere, or `approver:<model>`: may approve releases of that model only (least privilege). */
export type Role = (typeof ROLES)[number] | `approver:${string}`;

export function isRole(text: string): text is Role {
  return (ROLES as readonly string[]).includes(text) || /^approver:[a-z][a-z0-9-]*$/.test(text);
}

export interface Principal {
  tokenId: string;
  principal: string;
  roles: Role[];
}

const hash = (token: string) => createHash('sha256').update(token).digest('hex');

/**
 * Issues a token for a principal. The token is returned once and only its SHA-256 is stored; the id (its first
 * characters) names it in listings and revocations.
 */
export async function createToken(
  db: Queryable,
  principal: string,
  roles: Role[]
): Promise<{ id: string; token: string }> {
  const id = randomBytes(6).toString('hex');
  const token = `cairn_${id}_${randomBytes(24).toString('base64url')}`;
  await db.query('INSERT INTO cairn.api_tokens (id, token_hash, principal, roles) VALUES ($1, $2, $3, $4)', [
    id,
    hash(token),
    principal,
    roles,
  ]);
  return { id, token };
}

/** The principal a live token belongs to, or undefined. */
export async function authenticate(db: Queryable, token: string): Promise<Principal | undefined> {
  const { rows } = await db.query<Principal>(
    `SELECT id AS "tokenId", principal, roles FROM cairn.api_tokens WHERE token_hash = $1 AND revoked_at IS NULL`,
    [hash(token)]
  );
  return rows[0];
}

export async function revokeToken(db: Queryable, id: string): Promise<boolean> {
  const { rowCount } = await db.query(
    'UPDATE cairn.api_tokens SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL',
    [id]
  );
  return rowCount === 1;
}

/** Principals that may approve releases of `model` (role `approver` or `approver:<model>`) through a live token. */
export async function approversOf(db: Queryable, model: string): Promise<string[]> {
  const { rows } = await db.query<{ principal: string }>(
    `SELECT DISTINCT principal FROM cairn.api_tokens
     WHERE ('approver' = ANY (roles) OR $1 = ANY (roles)) AND revoked_at IS NULL ORDER BY principal`,
    [`approver:${model}`]
  );
  return rows.map((r) => r.principal);
}
