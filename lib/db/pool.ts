import pg from 'pg';
import type { CairnConfig } from '../config/index.js';

export type Pool = pg.Pool;
/** A pool or a client inside a transaction. */
export type Queryable = pg.Pool | pg.PoolClient;

// BIGINT columns (ids, byte counts) arrive as JS numbers; Cairn's stay below 2^53.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));

export function createPool(config: Pick<CairnConfig, 'database'>): Pool {
  return new pg.Pool({ connectionString: config.database.url, max: config.database.poolSize });
}
