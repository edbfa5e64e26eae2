import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { ArtifactStore } from '../artifacts/index.js';
import type { CairnConfig } from '../config/index.js';
import type { Pool } from '../db/pool.js';
import type { Logger } from '../logging/logger.js';
import { probeTemporal } from './probes.js';

/** A dependency check: undefined when it answers, else what is wrong. */
export type Check = () => Promise<string | undefined>;

/**
 * Watches a long-running process's dependencies. Each is checked every interval; a change is logged once, one line
 * when a dependency goes away and one when it is back (with how long it was away), never once per check. `problems()`
 * is what is down now: what `/readyz` reports. The process itself keeps running and its clients reconnect on their
 * own (the pool, the store client, the Temporal worker, NATS); this only makes the outage visible.
 */
export class DependencyWatch {
  private readonly down = new Map<string, { since: number; problem: string }>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly checks: Record<string, Check>,
    private readonly logger: Pick<Logger, 'error' | 'info'>
  ) {}

  async checkNow(): Promise<void> {
    await Promise.all(
      Object.entries(this.checks).map(async ([name, check]) => {
        const problem = await check().catch((err: unknown) => (err as Error).message || String(err));
        const was = this.down.get(name);
        if (problem && !was) {
          this.down.set(name, { since: Date.now(), problem });
          this.logger.error(
            { dependency: name, problem },
            `${name} unreachable: ${problem}; not ready until it is back`
          );
        } else if (problem && was) {
          was.problem = problem;
        } else if (!problem && was) {
          this.down.delete(name);
          const downMs = Date.now() - was.since;
          this.logger.info(
            { dependency: name, downMs },
            `${name} reachable again after ${(downMs / 1000).toFixed(1)} s`
          );
        }
      })
    );
  }

  start(intervalMs: number): void {
    this.timer = setInterval(() => void this.checkNow(), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  problems(): string[] {
    return [...this.down].map(([name, d]) => `${name} unreachable: ${d.problem}`);
  }
}

/** Undefined once `work` resolves, or why not: its error, or no answer within `timeoutMs`. */
async function answers(work: Promise<unknown>, timeoutMs: number): Promise<string | undefined> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      work.then(() => undefined),
      new Promise<string>(
        (resolve) => (timer = setTimeout(() => resolve(`no answer within ${timeoutMs} ms`), timeoutMs))
      ),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** A round trip to a server (a NATS flush, say): it answers within `timeoutMs`, or it is what is wrong. */
export const roundTripCheck =
  (roundTrip: () => Promise<unknown>, timeoutMs = 2000): Check =>
  () =>
    answers(roundTrip(), timeoutMs);

/** `SELECT 1` through the process's own pool. */
export const postgresCheck = (db: Pool, timeoutMs = 2000): Check =>
  roundTripCheck(() => db.query('SELECT 1'), timeoutMs);

/** Looks up an object no one stores: an answer (found or not) means the store is reachable. */
export const objectStoreCheck =
  (store: Pick<ArtifactStore, 'stat'>, timeoutMs = 3000): Check =>
  () =>
    answers(store.stat(`sha256:${'0'.repeat(64)}`), timeoutMs);

export const temporalCheck =
  (config: Pick<CairnConfig, 'temporal'>): Check =>
  async () => {
    const probe = await probeTemporal(config);
    return probe.ok ? undefined : probe.detail;
  };

/**
 * `GET /healthz` (the process is up) and `GET /readyz` (200, or 503 with the problems) on 127.0.0.1:`port`, for a
 * process that has no HTTP server of its own (the workers).
 */
export async function serveHealth(port: number, problems: () => string[]): Promise<Server> {
  const server = createServer((request, response) => {
    const send = (status: number, body: unknown) =>
      response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    if (request.url === '/healthz') return send(200, { ok: true });
    if (request.url === '/readyz') {
      const now = problems();
      return now.length ? send(503, { ready: false, problems: now }) : send(200, { ready: true });
    }
    return send(404, { error: 'routes: GET /healthz, GET /readyz' });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return server;
}
