import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createToken } from '../../lib/auth/tokens.js';
import { resolveSourcePath } from '../../lib/pipeline/run-config.js';
import { changeDeployment, moves } from '../../lib/release/deployments.js';
import { trainingPipeline } from '../../workflows/training-pipeline.js';
import { ROOT, serviceEnv } from '../helpers/cli.js';
import { useServices, withWorker } from '../helpers/temporal.js';

// `CAIRN_SERVE_WORKERS=2 node serving/main.ts`: one server process per worker on one port (node:cluster), each with
// the deployed model, and a clean stop of all of them.

const ctx = useServices();
const { deps } = ctx;
const id = randomUUID().slice(0, 8);
const model = `cluster-${id}`;
const ENV = `cluster-${id}`;
const TSX = ['--import', pathToFileURL(join(ROOT, 'node_modules/tsx/dist/loader.mjs')).href];
const ROW = (() => {
  const [first] = JSON.parse(readFileSync(resolveSourcePath('npm:vega-datasets/data/penguins.json'), 'utf8')) as Record<
    string,
    unknown
  >[];
  const { Species: _species, ...row } = first!;
  return row;
})();

let token: string;
const started: ChildProcess[] = [];
afterAll(() => {
  for (const child of started) child.kill('SIGKILL');
});

beforeAll(async () => {
  const version = await withWorker(deps, async (taskQueue) => {
    const handle = await ctx.client.workflow.start(trainingPipeline, {
      taskQueue,
      workflowId: `cluster-${randomUUID()}`,
      args: [{ pipeline: 'penguins', model, config: { rounds: 10 } }],
    });
    return (await handle.result()).model.version;
  });
  expect(version).toBe(1);
  await changeDeployment(deps.db, model, ENV, moves.promote(1, null), {
    action: 'promote',
    by: 'cluster-test',
    reason: 'test',
  });
  token = (await createToken(deps.db, 'cluster-test', [`predict:${model}`])).token;
}, 240_000);

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** A predict request on a connection of its own (the cluster hands connections out, not requests). */
function predict(port: number): Promise<{ status: number; body: { predictions: { id: string; version: number }[] } }> {
  const body = JSON.stringify({ row: ROW });
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path: `/v1/models/${model}/predict`,
        method: 'POST',
        agent: false,
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      },
      (res) => {
        let text = '';
        res.on('data', (chunk: Buffer) => (text += chunk.toString()));
        res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(text) }));
      }
    );
    req.setTimeout(30_000, () => req.destroy(new Error('no answer within 30 s')));
    req.on('error', reject);
    req.end(body);
  });
}

const replicas = async () =>
  (
    await deps.db.query<{ pid: number; loaded: string[] }>(
      `SELECT pid, loaded FROM cairn.replicas WHERE environment = $1 AND kind = 'online' ORDER BY pid`,
      [ENV]
    )
  ).rows;

function serve(port: number): { child: ChildProcess; exited: Promise<number | null>; log: () => string } {
  const child = spawn(process.execPath, [...TSX, join(ROOT, 'serving/main.ts')], {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'pipe'],
    env: {
      ...serviceEnv(),
      CAIRN_SERVE_WORKERS: '2',
      CAIRN_SERVING_PORT: String(port),
      CAIRN_ENVIRONMENT: ENV,
      CAIRN_SAMPLE_RATE: '1',
      CAIRN_LOG_LEVEL: 'info',
    },
  });
  started.push(child);
  let log = '';
  child.stderr!.on('data', (chunk: Buffer) => (log += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, exited, log: () => log };
}

describe('cairn serve with CAIRN_SERVE_WORKERS', () => {
  it('runs one server process per worker on one port, each with the deployed model, and stops them all cleanly', async () => {
    const port = await freePort();
    const { child, exited, log } = serve(port);
    await expect.poll(log, { timeout: 90_000, interval: 200 }).toMatch(/every server process is listening/);
    // Each process loads the deployment and joins the fleet as a replica of its own.
    await expect
      .poll(async () => (await replicas()).filter((r) => r.loaded.includes(`${model}@1`)).length, {
        timeout: 90_000,
        interval: 500,
      })
      .toBe(2);
    const pids = (await replicas()).map((r) => r.pid);
    expect(pids).not.toContain(child.pid);

    const answers = await Promise.all(Array.from({ length: 20 }, () => predict(port)));
    expect(answers.map((a) => a.status)).toEqual(new Array(20).fill(200));
    expect(new Set(answers.map((a) => a.body.predictions[0]!.version))).toEqual(new Set([1]));
    const ids = answers.map((a) => a.body.predictions[0]!.id);

    const from = new Date(Date.now() - 120_000);
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(log()).toMatch(/every server process has stopped/);
    // Every process left the fleet and wrote the rest of its feed on the way out.
    expect(await replicas()).toEqual([]);
    const { rows: stats } = await deps.db.query<{ server: string; requests: number }>(
      `SELECT server, sum(requests)::int AS requests FROM cairn.serving_stats
       WHERE model = $1 AND environment = $2 AND window_end > $3 GROUP BY server ORDER BY server`,
      [model, ENV, from]
    );
    expect(stats.reduce((a, s) => a + s.requests, 0)).toBe(20);
    // Connections were handed to both processes (round-robin).
    expect(stats.map((s) => Number(s.server.split(':').at(-1))).sort()).toEqual([...pids].sort());
    const { rows: logged } = await deps.db.query('SELECT id FROM cairn.prediction_log WHERE id = ANY ($1)', [ids]);
    expect(logged).toHaveLength(20);
  }, 180_000);

  it('starts a server process that died again, and keeps serving meanwhile', async () => {
    const port = await freePort();
    const { child, exited, log } = serve(port);
    await expect.poll(log, { timeout: 90_000, interval: 200 }).toMatch(/every server process is listening/);
    const loaded = async () => (await replicas()).filter((r) => r.loaded.includes(`${model}@1`)).map((r) => r.pid);
    await expect.poll(async () => (await loaded()).length, { timeout: 90_000, interval: 500 }).toBe(2);
    const [victim, survivor] = await loaded();
    process.kill(victim!, 'SIGKILL');
    // Once the primary knows (a connection handed to a process as it dies is lost with it), the other process
    // answers while the primary starts a third.
    await expect.poll(log, { timeout: 30_000, interval: 100 }).toMatch(/server process exited; starting another/);
    expect((await predict(port)).status).toBe(200);
    await expect
      .poll(async () => (await loaded()).filter((pid) => pid !== victim && pid !== survivor).length, {
        timeout: 90_000,
        interval: 500,
      })
      .toBe(1);
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    // The killed process could not leave the fleet: only its row is left, to go stale.
    expect((await replicas()).map((r) => r.pid)).toEqual([victim]);
    await deps.db.query('DELETE FROM cairn.replicas WHERE environment = $1', [ENV]);
  }, 180_000);
});
