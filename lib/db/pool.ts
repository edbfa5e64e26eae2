import pg from 'pg';
import type { CairnConfig } from '../config/index.js';
import { durationMs } from '../config/duration.js';
import type { Logger } from '../logging/logger.js';

export type Pool = pg.Pool;
/** A pool or a client inside a transaction. */
export type Queryable = pg.Pool | pg.PoolClient;

// BIGINT columns (ids, byte counts) arrive as JS numbers; Cairn's stay below 2^53.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));

/**
 * A connection pool that survives PostgreSQL going away (a restart, a failover, `pg_terminate_backend`, an idle
 * timeout): a dropped connection is logged once per outage and replaced on next use, never an unhandled `error`
 * event that kills the process. Waiting for a connection and running a statement are both bounded.
 */
export function createPool(config: Pick<CairnConfig, 'database'>, logger?: Pick<Logger, 'warn' | 'info'>): Pool {
  const { url, poolSize, connectTimeout, statementTimeout } = config.database;
  const pool = new pg.Pool({
    connectionString: url,
    max: poolSize,
    connectionTimeoutMillis: durationMs(connectTimeout),
    statement_timeout: durationMs(statementTimeout),
    keepAlive: true,
  });
  let lost = false;
  const onError = (err: Error) => {
    if (lost) return;
    lost = true;
    logger?.warn({ err: err.message }, 'PostgreSQL connection lost; reconnecting on next use');
  };
  // Idle clients report errors to the pool; a checked-out client (between the queries of a transaction) to itself.
  pool.on('error', onError);
  pool.on('connect', (client) => {
    client.on('error', onError);
    if (lost) {
      lost = false;
      logger?.info('PostgreSQL connection restored');
    }
  });
  return pool;
}
