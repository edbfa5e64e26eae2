import { afterAll, describe, expect, it } from 'vitest';
import { createPool } from '../../lib/db/pool.js';
import { testConfig } from '../helpers/services.js';

const config = testConfig();
const admin = createPool(config);
afterAll(() => admin.end());

/** A logger that keeps what it was told. */
function recorder() {
  const lines: { level: string; msg: string }[] = [];
  return {
    lines,
    warn: (_: unknown, msg?: string) => void lines.push({ level: 'warn', msg: msg ?? '' }),
    info: (msg: unknown) => void lines.push({ level: 'info', msg: String(msg) }),
  };
}

const pidOf = async (q: { query: (text: string) => Promise<{ rows: { pid: number }[] }> }) =>
  (await q.query('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;

describe('the PostgreSQL pool when the server drops its connections', () => {
  it('survives terminated idle and checked-out connections, logs the outage once, and reconnects on next use', async () => {
    const log = recorder();
    const pool = createPool(config, log as never);
    try {
      const busy = await pool.connect(); // held, as a transaction between two statements holds it
      const idle = await pool.connect();
      const pids = [await pidOf(busy), await pidOf(idle)];
      idle.release();

      // What a PostgreSQL restart, failover or idle timeout does to a process's connections.
      await admin.query('SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid', [pids]);
      await new Promise((r) => setTimeout(r, 300));
      // Without the listeners the process would have died here with an unhandled 'error' event.
      await expect(busy.query('SELECT 1')).rejects.toThrow();
      busy.release(true);

      expect((await pool.query('SELECT 1 AS ok')).rows).toEqual([{ ok: 1 }]);
      expect(log.lines).toEqual([
        { level: 'warn', msg: 'PostgreSQL connection lost; reconnecting on next use' },
        { level: 'info', msg: 'PostgreSQL connection restored' },
      ]);
    } finally {
      await pool.end();
    }
  });

  it('bounds a statement by database.statementTimeout', async () => {
    const pool = createPool({ database: { ...config.database, statementTimeout: '200ms' } });
    try {
      await expect(pool.query('SELECT pg_sleep(5)')).rejects.toThrow(/statement timeout/);
      expect((await pool.query('SELECT 1 AS ok')).rows).toEqual([{ ok: 1 }]);
    } finally {
      await pool.end();
    }
  });
});
