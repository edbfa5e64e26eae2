import { createHash, randomBytes } from 'node:crypto';
import { durationMs } from '../config/duration.js';
import type { Queryable } from '../db/pool.js';

/** Role families; each but `admin` is scoped to a model, or to every model with `*`. */
export const ROLE_FORMS = [
  'admin',
  'release:<model>',
  'approver:<model>',
  'predict:<model>',
  'render:<prompt>',
  'search:<index>',
] as const;
/**
 * - `admin`: issue and revoke tokens, change schedules and keys (nothing else: it cannot approve or predict).
 * - `release:<model>`: start releases of the model and roll it back.
 * - `approver:<model>`: approve or reject its releases.
 * - `predict:<model>`: call its online endpoints.
 * - `render:<prompt>`: render the prompt online (`POST /v1/prompts/:name/render`). `release:<prompt>` moves its
 *   aliases.
 * - `search:<index>`: search the vector index online (`POST /v1/indexes/:name/search`). `release:<index>` moves its
 *   aliases.
 */
export type Role = 'admin' | `${'release' | 'approver' | 'predict' | 'render' | 'search'}:${string}`;

const ROLE = /^(admin|(release|approver|predict|render|search):([a-z][a-z0-9-]*|\*))$/;

export function isRole(text: string): text is Role {
  return ROLE.test(text);
}

/** Whether `roles` grant `needed`: the role itself, or its family over every model (`approver:*` for `approver:m`). */
export function grants(roles: readonly string[], needed: Role): boolean {
  if (roles.includes(needed)) return true;
  const family = needed.split(':')[0];
  return needed !== 'admin' && roles.includes(`${family}:*`);
}

export interface Principal {
  tokenId: string;
  principal: string;
  roles: Role[];
}

const tokenHash = (token: string) => createHash('sha256').update(token).digest('hex');

/** A token that counts: not revoked, not expired. */
const LIVE = 'revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())';

/** How long a token lives unless told otherwise. */
export const DEFAULT_TOKEN_LIFETIME = '90d';

/**
 * Issues a token for a principal, valid for `lifetimeMs` (null: no expiry). The token is returned once and only its
 * SHA-256 is stored; the id (its first characters) names it in listings and revocations. `by` is who issued it.
 */
export async function createToken(
  db: Queryable,
  principal: string,
  roles: Role[],
  options: { lifetimeMs?: number | null; by?: string } = {}
): Promise<{ id: string; token: string; expiresAt: Date | null }> {
  const id = randomBytes(6).toString('hex');
  const token = `cairn_${id}_${randomBytes(24).toString('base64url')}`;
  const lifetime = options.lifetimeMs === undefined ? durationMs(DEFAULT_TOKEN_LIFETIME) : options.lifetimeMs;
  const { rows } = await db.query<{ expires_at: Date | null }>(
    `INSERT INTO cairn.api_tokens (id, token_hash, principal, roles, expires_at, created_by)
     VALUES ($1, $2, $3, $4, now() + $5 * interval '1 millisecond', $6) RETURNING expires_at`,
    [id, tokenHash(token), principal, roles, lifetime, options.by ?? 'cairn']
  );
  return { id, token, expiresAt: rows[0]!.expires_at };
}

/** The principal a live (not revoked, not expired) token belongs to, or undefined. */
export async function authenticate(db: Queryable, token: string): Promise<Principal | undefined> {
  const { rows } = await db.query<Principal>(
    `SELECT id AS "tokenId", principal, roles FROM cairn.api_tokens WHERE token_hash = $1 AND ${LIVE}`,
    [tokenHash(token)]
  );
  return rows[0];
}

/** Why a token may not act with `role`, or the principal it belongs to. */
export async function authorize(
  db: Queryable,
  token: string | undefined,
  role: Role
): Promise<{ principal: Principal } | { refusal: string; principal?: string }> {
  if (!token) return { refusal: `no token presented (needs the role ${role})` };
  const principal = await authenticate(db, token);
  if (!principal) return { refusal: 'unknown, expired or revoked token' };
  if (!grants(principal.roles, role))
    return {
      refusal: `${principal.principal} does not hold the role ${role} (has: ${principal.roles.join(', ') || 'none'})`,
      principal: principal.principal,
    };
  return { principal };
}

export async function revokeToken(db: Queryable, id: string, by = 'cairn'): Promise<boolean> {
  const { rowCount } = await db.query(
    'UPDATE cairn.api_tokens SET revoked_at = now(), revoked_by = $2 WHERE id = $1 AND revoked_at IS NULL',
    [id, by]
  );
  return rowCount === 1;
}

export interface TokenListing {
  id: string;
  principal: string;
  roles: string[];
  createdBy: string;
  createdAt: Date;
  expiresAt: Date | null;
  revokedAt: Date | null;
}

export async function listTokens(db: Queryable): Promise<TokenListing[]> {
  const { rows } = await db.query<TokenListing>(
    `SELECT id, principal, roles, created_by AS "createdBy", created_at AS "createdAt", expires_at AS "expiresAt",
            revoked_at AS "revokedAt"
     FROM cairn.api_tokens ORDER BY created_at`
  );
  return rows;
}

/** Whether any live token holds `admin`: until one does, the first admin token may be issued without one. */
export async function hasAdmin(db: Queryable): Promise<boolean> {
  const { rows } = await db.query(`SELECT 1 FROM cairn.api_tokens WHERE 'admin' = ANY (roles) AND ${LIVE} LIMIT 1`);
  return rows.length > 0;
}

/** Principals that may approve releases of `model` (`approver:<model>` or `approver:*`) through a live token. */
export async function approversOf(db: Queryable, model: string): Promise<string[]> {
  const { rows } = await db.query<{ principal: string }>(
    `SELECT DISTINCT principal FROM cairn.api_tokens
     WHERE ('approver:*' = ANY (roles) OR $1 = ANY (roles)) AND ${LIVE} ORDER BY principal`,
    [`approver:${model}`]
  );
  return rows.map((r) => r.principal);
}
