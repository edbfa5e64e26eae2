// The `cairn` CLI's credential: every command that changes state presents a token (CAIRN_TOKEN, or a file named by
// --token-file / CAIRN_TOKEN_FILE) and acts as its principal, never as a typed name.
import { readFileSync } from 'node:fs';
import { authenticate, authorize } from '../lib/auth/tokens.js';
import type { Principal, Role } from '../lib/auth/tokens.js';
import type { Queryable } from '../lib/db/pool.js';
import { withDb } from './io.js';

/** Refused for want of a credential or a role: one line, exit 4. */
export class AccessDeniedError extends Error {
  override readonly name = 'AccessDeniedError';
  readonly userFacing = true;
  readonly exitCode = 4;
}

/** The token this command presents, or undefined. */
export function cliToken(): string | undefined {
  const file = process.env.CAIRN_TOKEN_FILE;
  if (file) {
    try {
      return readFileSync(file, 'utf8').trim() || undefined;
    } catch (err) {
      throw new AccessDeniedError(`cannot read the token file ${file}: ${(err as Error).message}`);
    }
  }
  return process.env.CAIRN_TOKEN?.trim() || undefined;
}

/** The token, or an error saying how to present one. */
export function requireToken(role: Role): string {
  const token = cliToken();
  if (!token)
    throw new AccessDeniedError(`this command needs a token with the role ${role}: set CAIRN_TOKEN or --token-file`);
  return token;
}

/** The principal of the presented token, if it holds `role`; else an AccessDeniedError naming what is missing. */
export async function requireRole(role: Role, db?: Queryable): Promise<Principal> {
  const token = requireToken(role);
  const result = db ? await authorize(db, token, role) : await withDb((pool) => authorize(pool, token, role));
  if ('refusal' in result) throw new AccessDeniedError(`refused: ${result.refusal}`);
  return result.principal;
}

/**
 * The principal of the presented token, whatever its roles: commands that start work (a run, a reproduction, a check)
 * but move no traffic ask only who is asking, and record it.
 */
export async function requirePrincipal(db?: Queryable): Promise<Principal> {
  const token = cliToken();
  if (!token) throw new AccessDeniedError('this command needs a token (any role): set CAIRN_TOKEN or --token-file');
  const principal = db ? await authenticate(db, token) : await withDb((pool) => authenticate(pool, token));
  if (!principal) throw new AccessDeniedError('refused: unknown, expired or revoked token');
  return principal;
}
