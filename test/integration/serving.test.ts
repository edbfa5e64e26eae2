import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createToken, revokeToken } from '../../lib/auth/tokens.js';
import type { NumericBins, CategoryCounts } from '../../lib/monitoring/feed.js';
import { readFeed } from '../../lib/monitoring/feed.js';
import { resolveSourcePath } from '../../lib/pipeline/run-config.js';
import { changeDeployment, moves } from '../../lib/release/deployments.js';
import type { DeploymentState, Deployment } from '../../lib/release/deployments.js';
import type { Server } from '../../serving/server.js';
import { trainingPipeline } from '../../workflows/training-pipeline.js';
import { startTestServer } from '../helpers/serving.js';
import { useServices, withWorker } from '../helpers/temporal.js';

const run = promisify(execFile);

const ctx = useServices();
const { deps } = ctx;

const SPECIES = ['Adelie', 'Chinstrap', 'Gentoo'];
type Row = Record<string, unknown>;
const LABELLED = JSON.parse(readFileSync(resolveSourcePath('npm:vega-datasets/data/penguins.json'), 'utf8')) as Row[];
/** Penguin rows as a caller sends them: without the target. */
const ROWS: Row[] = LABELLED.map(({ Species: _species, ...row }) => row);
const ENV = 'production';

const model = `serving-${randomUUID().slice(0, 8)}`;
let server: Server;
let base: string;
let token: string;
let approverToken: string;

const change = (
  next: (current: Deployment | undefined) => DeploymentState,
  action: 'promote' | 'canary' | 'rollback' | 'abort-canary'
) => changeDeployment(deps.db, model, ENV, next, { action, by: 'serving-test', reason: action });

async function train(rounds: number): Promise<number | null> {
  return withWorker(deps, async (taskQueue) => {
    const handle = await ctx.client.workflow.start(trainingPipeline, {
      taskQueue,
      workflowId: `serving-${randomUUID()}`,
      args: [{ pipeline: 'penguins', model, config: { rounds } }],
    });
    return (await handle.result()).model.version;
  });
}

interface Answer {
  status: number;
  body: Record<string, unknown> & { error?: string; problems?: { field: string; row?: number; message: string }[] };
  headers: Headers;
}

async function call(
  method: 'GET' | 'POST',
  path: string,
  body?: unknown,
  options: { token?: string | null; headers?: Record<string, string>; raw?: string | Uint8Array } = {}
): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (method === 'POST') headers['content-type'] = 'application/json';
  if (options.token !== null) headers.authorization = `Bearer ${options.token ?? token}`;
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { ...headers, ...options.headers },
    ...(method === 'POST' ? { body: options.raw ?? JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return {
    status: res.status,
    body: res.headers.get('content-type')?.includes('json') ? JSON.parse(text) : { text },
    headers: res.headers,
  };
}

const predict = (body: unknown, options: Parameters<typeof call>[3] = {}) =>
  call('POST', `/v1/models/${model}/predict`, body, options);

type Predicted = { id: string; version: number; label: string; probabilities: Record<string, number> };
const predictions = (a: Answer) => a.body.predictions as Predicted[];

beforeAll(async () => {
  // v1 and v2: different configs, so different packages.
  expect(await train(15)).toBe(1);
  expect(await train(40)).toBe(2);
  await change(moves.promote(1, null), 'promote');
  token = (await createToken(deps.db, 'serving-test', ['predict:*'])).token;
  approverToken = (await createToken(deps.db, 'serving-approver', [`approver:${model}`])).token;
  ({ server, base } = await startTestServer(deps, { environment: ENV, flushInterval: '1h' }));
}, 240_000);

afterAll(async () => {
  await server?.close();
});

/** Everything recorded so far is written; returns the start of a fresh feed range. */
async function freshFeed(): Promise<Date> {
  await server.feed.flush();
  return new Date();
}

async function feedOf(version: number, from: Date) {
  await server.feed.flush();
  return readFeed(deps.db, { model, environment: ENV, version, from, to: new Date() });
}

describe('online predictions', () => {
  it('answers one row and many rows with prediction ids and the serving version, and feeds the monitor', async () => {
    const from = await freshFeed();
    const one = await predict({ row: ROWS[0] });
    expect(one.status).toBe(200);
    expect(one.body.model).toBe(model);
    expect(predictions(one)).toEqual([
      {
        id: expect.stringMatching(/^[0-9a-f-]{36}$/),
        version: 1,
        label: 'Adelie',
        probabilities: { Adelie: expect.any(Number), Chinstrap: expect.any(Number), Gentoo: expect.any(Number) },
      },
    ]);

    const many = await predict({ rows: ROWS.slice(0, 150) });
    expect(many.status).toBe(200);
    const answered = predictions(many);
    expect(answered).toHaveLength(150);
    expect(new Set(answered.map((p) => p.id)).size).toBe(150);
    expect(answered.every((p) => p.version === 1 && SPECIES.includes(p.label))).toBe(true);
    const right = answered.filter((p, i) => p.label === LABELLED[i]!.Species).length;
    expect(right / 150).toBeGreaterThan(0.9);

    const feed = await feedOf(1, from);
    expect(feed).toMatchObject({ model, environment: ENV, version: 1, requests: 2, predictions: 151, errors: 0 });
    expect(feed.latencyMs.p50).toBeGreaterThan(0);
    expect(feed.latencyMs.p99).toBeGreaterThanOrEqual(feed.latencyMs.p50!);
    expect(feed.latencyMs.counts.reduce((a, b) => a + b)).toBe(2);
    expect(Object.keys(feed.features).sort()).toEqual(
      ['Beak Depth (mm)', 'Beak Length (mm)', 'Body Mass (g)', 'Flipper Length (mm)', 'Island', 'Sex'].sort()
    );
    const mass = feed.features['Body Mass (g)'] as NumericBins;
    expect(mass.kind).toBe('numeric');
    expect(mass.edges).toHaveLength(21);
    expect(mass.counts.reduce((a, b) => a + b) + mass.missing).toBe(151);
    const unweighed = [ROWS[0], ...ROWS.slice(0, 150)].filter((r) => r!['Body Mass (g)'] === null).length;
    expect(mass.missing).toBe(unweighed);
    const island = feed.features.Island as CategoryCounts;
    expect(island.counts.Torgersen! + island.counts.Biscoe! + island.counts.Dream!).toBe(151);
    const outputs = feed.outputs as CategoryCounts;
    expect(Object.values(outputs.counts).reduce((a, b) => a + b)).toBe(151);
    expect(Object.keys(outputs.counts).every((c) => SPECIES.includes(c))).toBe(true);
    expect(await feedOf(2, from)).toMatchObject({ requests: 0, predictions: 0 });
  });

  it('answers alike whether a request takes the fast path or goes through fastify', async () => {
    // `application/json; charset=UTF-8` is not among the content types the fast path takes (serving/predict.ts):
    // those requests are fastify's. Everything else about the two requests is the same.
    const both = async (body: unknown, raw?: string) =>
      Promise.all(
        ['application/json', 'application/json; charset=UTF-8'].map(async (type) => {
          const a = await call('POST', `/v1/models/${model}/predict`, body, {
            headers: { 'content-type': type },
            ...(raw === undefined ? {} : { raw }),
          });
          const text = JSON.stringify(a.body).replace(
            /"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"/g,
            '"<id>"'
          );
          return { status: a.status, type: a.headers.get('content-type'), body: JSON.parse(text) as unknown };
        })
      );
    const cases: [unknown, string?][] = [
      [{ row: ROWS[0] }],
      [{ rows: ROWS.slice(0, 5), key: 'user-1' }],
      [{ row: { ...ROWS[0], 'Body Mass (g)': 'heavy' } }],
      [{ row: { ...ROWS[0], extra: 1 } }],
      [{ rows: [] }],
      [{}],
      [undefined, '{"row": '],
      [undefined, '{"row": {"Island": "\\u0000"}}'],
      [undefined, '   '],
    ];
    for (const [body, raw] of cases) {
      const [fast, fastify] = await both(body, raw);
      expect(fast, raw ?? JSON.stringify(body)).toEqual(fastify);
    }
    const [fast] = await both({ row: ROWS[0] });
    expect(fast).toMatchObject({ status: 200, type: 'application/json; charset=utf-8' });
  });

  it('lists what it serves', async () => {
    const list = await call('GET', '/v1/models');
    expect(list.status).toBe(200);
    expect(list.body.environment).toBe(ENV);
    expect(list.body.models).toContainEqual({ model, stable: 1, canary: null, canaryWeight: 0, revision: 1 });
  });

  it('refuses a revoked token at once: the revocation is announced to the server, not waited out', async () => {
    const issued = await createToken(deps.db, 'short-lived', [`predict:${model}`]);
    // Known to the server's token cache, which would trust it for 30 s without the announcement.
    expect((await call('GET', '/v1/models', undefined, { token: issued.token })).status).toBe(200);
    const revokedAt = performance.now();
    await revokeToken(deps.db, issued.id);
    let status = 200;
    while (status === 200 && performance.now() - revokedAt < 10_000)
      status = (await call('GET', '/v1/models', undefined, { token: issued.token })).status;
    const refusedAfter = performance.now() - revokedAt;
    expect(status).toBe(401);
    // The cache would have answered 200 for 30 s; well under that, the LISTEN/NOTIFY path did it.
    expect(refusedAfter).toBeLessThan(10_000);
    console.info(`revoked token refused ${refusedAfter.toFixed(1)} ms after the revocation`);
  });

  it('refuses bad requests with a 4xx that names the problem, and keeps serving', async () => {
    const good = { ...ROWS[0] };
    const bad = async (
      answer: Promise<Answer>,
      status: number,
      error: RegExp,
      problems?: { field: string; row?: number; message: RegExp }[]
    ) => {
      const { status: got, body } = await answer;
      expect({ got, error: body.error }).toEqual({ got: status, error: expect.stringMatching(error) });
      if (problems) {
        expect(body.problems).toEqual(
          problems.map((p) => expect.objectContaining({ ...p, message: expect.stringMatching(p.message) }))
        );
      }
    };

    await bad(predict(undefined, { raw: '{"rows": [{"Island": "Dream",' }), 400, /^malformed JSON: .+/);
    await bad(predict(undefined, { raw: '{"rows": [{"Beak Length (mm)": NaN}]}' }), 400, /^malformed JSON: .+/);
    await bad(predict(undefined, { raw: '' }), 400, /body is empty/);
    await bad(
      predict(undefined, { raw: 'rows=1', headers: { 'content-type': 'text/plain' } }),
      415,
      /application\/json/
    );
    await bad(predict({ rows: 'all of them' }), 400, /not a predict request/);
    await bad(predict({ rows: [good], colour: 'blue' }), 400, /not a predict request/);

    await bad(
      predict({ rows: [good, good, { ...good, 'Body Mass (g)': 'heavy' }] }),
      400,
      /do not fit model .*'s input contract: Body Mass \(g\) \(row 2\): expected number, found string/,
      [{ field: 'Body Mass (g)', row: 2, message: /expected number/ }]
    );
    await bad(predict({ rows: [good, { ...good, 'Beak Length (mm)': 'NaN' }] }), 400, /Beak Length \(mm\) \(row 1\)/, [
      { field: 'Beak Length (mm)', row: 1, message: /expected number/ },
    ]);
    const { Island: _island, ...noIsland } = good;
    await bad(predict({ row: noIsland }), 400, /Island/, [{ field: 'Island', message: /column Island is missing/ }]);
    await bad(predict({ rows: [good, { ...good, Island: null }] }), 400, /Island \(row 1\)/, [
      { field: 'Island', row: 1, message: /missing values in a required column/ },
    ]);
    await bad(predict({ row: { ...good, Wingspan: 90 } }), 400, /Wingspan/, [
      { field: 'Wingspan', message: /^unknown field \(expected: .*Island/ },
    ]);
    await bad(predict({ row: { ...good, Island: 'Atlantis' } }), 400, /Atlantis/, [
      { field: 'Island', row: 0, message: /values outside/ },
    ]);
    await bad(predict({ rows: [good, 'penguin'] }), 400, /row 1|\(body\)/);

    // A NUL character or a lone surrogate (which PostgreSQL would refuse in the monitoring feed) stops at the edge.
    const from = await freshFeed();
    await bad(
      predict(undefined, { raw: '{"row": {"Island": "Dre\\u0000am"}}' }),
      400,
      /NUL character or a lone surrogate/
    );
    await bad(predict(undefined, { raw: '{"rows": [{"Sex": "\\ud800"}]}' }), 400, /NUL character or a lone surrogate/);
    expect((await predict({ row: good })).status).toBe(200);
    expect(await feedOf(1, from)).toMatchObject({ requests: 1, predictions: 1, errors: 0 });

    // 650 KB of unknown fields (under the body limit): the answer names them, in a bounded answer.
    const fields = Object.fromEntries(Array.from({ length: 30_000 }, (_, i) => [`unknown_field_${i}`, i]));
    const wide = JSON.stringify({ row: { ...good, ...fields } });
    expect(wide.length).toBeGreaterThan(600_000);
    const answer = await call('POST', `/v1/models/${model}/predict`, undefined, { raw: wide });
    expect(answer.status).toBe(400);
    expect(JSON.stringify(answer.body).length).toBeLessThan(64 * 1024);
    expect(answer.body.problems).toHaveLength(100);
    expect(answer.body.problemsOmitted).toBe(29_900);
    // The expected fields are listed once, not once per unknown field.
    const messages = (answer.body.problems as { message: string }[]).map((p) => p.message);
    expect(messages.filter((m) => m.includes('expected:'))).toHaveLength(1);
    expect(messages.slice(1).every((m) => m === 'unknown field')).toBe(true);

    // 10 MB of rows: refused by size before anything is parsed.
    const huge = JSON.stringify({ rows: Array.from({ length: 80_000 }, () => good) });
    expect(huge.length).toBeGreaterThan(10_000_000);
    await bad(predict(undefined, { raw: huge }), 413, /larger than 1048576 bytes \(serving\.maxBodyBytes\)/);

    const unknown = await call('POST', '/v1/models/no-such-model/predict', { row: good });
    expect(unknown.status).toBe(404);
    expect(unknown.body.error).toMatch(/model "no-such-model" is not served in production \(served: .*serving-/);
    expect(unknown.body.models).toContain(model);

    const missing = await predict({ row: good }, { token: null });
    expect(missing.status).toBe(401);
    expect(missing.body.error).toMatch(/missing bearer token/);
    expect(missing.headers.get('www-authenticate')).toBe('Bearer');
    await bad(predict({ row: good }, { token: 'cairn_nope' }), 401, /unknown, expired or revoked token/);
    await bad(predict({ row: good }, { headers: { authorization: 'Basic abc' } }), 401, /Bearer <token>/);
    await bad(
      predict({ row: good }, { token: approverToken }),
      403,
      new RegExp(`serving-approver may not do this: it needs the role predict:${model} \\(has: approver:${model}\\)`)
    );
    const elsewhere = (await createToken(deps.db, 'other-team', ['predict:some-other-model'])).token;
    await bad(predict({ row: good }, { token: elsewhere }), 403, new RegExp(`needs the role predict:${model}`));
    // It may list the models it may call: none of these.
    expect((await call('GET', '/v1/models', undefined, { token: elsewhere })).body.models).toEqual([]);
    await bad(call('GET', '/v2/nothing'), 404, /no route GET \/v2\/nothing/);

    const after = await predict({ row: good });
    expect(after.status).toBe(200);
    expect(predictions(after)[0]!.label).toBe('Adelie');

    const metrics = await call('GET', '/metrics');
    expect(metrics.body.text).toContain(`cairn_serving_requests_total{model="${model}",version="1",status="400"}`);
    expect(metrics.body.text).toContain(`cairn_serving_requests_total{model="(unknown)",version="",status="404"}`);
  });

  it('answers 500 when a model fails or gives a non-finite output, counts the rows as errors, and keeps serving', async () => {
    const from = await freshFeed();
    const loaded = server.models.get(model)!.stable;
    const scorer = loaded.scorer;
    try {
      // A model scored in-process fails at once; one scored asynchronously (ONNX) gives NaN.
      loaded.scorer = {
        ...scorer,
        scoreNow: () => {
          throw new Error('the model file is corrupt');
        },
      };
      const failed = await predict({ rows: ROWS.slice(0, 3) });
      expect(failed.status).toBe(500);
      expect(failed.body.error).toBe(`model ${model} v1 failed to score the rows; the server log has the error`);
      loaded.scorer = {
        ...scorer,
        scoreNow: undefined,
        score: async (table) => new Float64Array(table.rowCount * 3).fill(NaN),
      };
      const nonFinite = await predict({ rows: ROWS.slice(0, 2) });
      expect(nonFinite.status).toBe(500);
      expect(nonFinite.body.error).toBe(`model ${model} v1 gave a non-finite output for row 0`);
    } finally {
      loaded.scorer = scorer;
    }
    expect((await predict({ row: ROWS[0] })).status).toBe(200);
    expect(await feedOf(1, from)).toMatchObject({ requests: 3, errors: 5, predictions: 1 });
  });

  it('stores feedback for logged predictions, idempotently, and names unknown ids', async () => {
    const answer = await predict({ rows: ROWS.slice(0, 3) });
    const ids = predictions(answer).map((p) => p.id);
    const labels = LABELLED.slice(0, 3).map((r) => r.Species as string);
    const send = (feedback: unknown[], options: Parameters<typeof call>[3] = {}) =>
      call('POST', `/v1/models/${model}/feedback`, { feedback }, options);

    // Straight after the answer: the sampled rows are written on demand.
    const stored = await send(ids.map((predictionId, i) => ({ predictionId, label: labels[i] })));
    expect(stored.status).toBe(200);
    expect(stored.body).toEqual({ stored: 3, unknown: [] });
    const again = await send([{ predictionId: ids[0], label: 'Gentoo' }]);
    expect(again.body).toEqual({ stored: 1, unknown: [] });
    const { rows } = await deps.db.query<{ prediction_id: string; label: unknown }>(
      'SELECT prediction_id, label FROM cairn.feedback WHERE prediction_id = ANY ($1) ORDER BY prediction_id',
      [ids]
    );
    expect(new Map(rows.map((r) => [r.prediction_id, r.label]))).toEqual(
      new Map([
        [ids[0], 'Gentoo'],
        [ids[1], labels[1]],
        [ids[2], labels[2]],
      ])
    );
    const logged = await deps.db.query('SELECT version, input, output FROM cairn.prediction_log WHERE id = $1', [
      ids[1],
    ]);
    expect(logged.rows[0]).toMatchObject({ version: 1, input: ROWS[1], output: { label: expect.any(String) } });

    const unknownId = randomUUID();
    const partly = await send([
      { predictionId: ids[1], label: labels[1] },
      { predictionId: unknownId, label: 'Adelie' },
    ]);
    expect(partly.status).toBe(207);
    expect(partly.body).toMatchObject({
      stored: 1,
      unknown: [unknownId],
      error: expect.stringMatching(/sampleRate = 1/),
    });
    const none = await send([{ predictionId: unknownId, label: 'Adelie' }]);
    expect(none.status).toBe(404);
    expect(none.body).toMatchObject({ stored: 0, unknown: [unknownId] });
    const wrongModel = await call('POST', '/v1/models/other-model/feedback', {
      feedback: [{ predictionId: ids[2], label: 'Adelie' }],
    });
    expect(wrongModel.status).toBe(404);

    const badLabel = await send([
      { predictionId: ids[1], label: labels[1] },
      { predictionId: ids[2], label: 'Emperor' },
    ]);
    expect(badLabel.status).toBe(400);
    expect(badLabel.body.problems).toEqual([
      { field: 'label', row: 1, message: 'unknown class "Emperor" (classes: Adelie, Chinstrap, Gentoo)' },
    ]);
    const numeric = await send([{ predictionId: ids[1], label: 3 }]);
    expect(numeric.status).toBe(400);
    expect((await send([{ predictionId: ids[1] }])).status).toBe(400);
    expect((await send([{ predictionId: ids[1], label: 'Adelie' }], { token: null })).status).toBe(401);
  });

  it('splits traffic during a canary, keeps a routing key on one version, and reloads without a restart', async () => {
    const deployment = await change(moves.canary(2, 0.5, `release-${model}`), 'canary');
    await server.models.refresh();
    expect(server.models.get(model)).toMatchObject({ revision: deployment.revision, canaryWeight: 0.5 });

    const versions = await Promise.all(
      Array.from({ length: 60 }, async () => predictions(await predict({ row: ROWS[10] }))[0]!.version)
    );
    expect(new Set(versions)).toEqual(new Set([1, 2]));

    const sticky = await Promise.all(
      Array.from({ length: 20 }, async (_, i) => {
        const answer =
          i % 2
            ? await predict({ rows: ROWS.slice(0, 5), key: 'customer-42' })
            : await predict({ rows: ROWS.slice(0, 5) }, { headers: { 'x-cairn-key': 'customer-42' } });
        return predictions(answer).map((p) => p.version);
      })
    );
    const flat = sticky.flat();
    expect(flat).toHaveLength(100);
    expect(new Set(flat).size).toBe(1);
    const byKey = await Promise.all(
      Array.from(
        { length: 40 },
        async (_, i) => predictions(await predict({ row: ROWS[0], key: `customer-${i}` }))[0]!.version
      )
    );
    expect(new Set(byKey)).toEqual(new Set([1, 2]));

    await change(moves.abortCanary(), 'abort-canary');
    await server.models.refresh();
    const after = await Promise.all(
      Array.from({ length: 20 }, async () => predictions(await predict({ row: ROWS[0] }))[0]!.version)
    );
    expect(new Set(after)).toEqual(new Set([1]));
  });

  it('limits each token to serving.rateLimit requests a minute, answering 429 beyond', async () => {
    const limited = await startTestServer(deps, { environment: ENV, rateLimit: 3 });
    try {
      const other = (await createToken(deps.db, 'rate-other', [`predict:${model}`])).token;
      const get = (bearer: string) =>
        fetch(`${limited.base}/v1/models`, { headers: { authorization: `Bearer ${bearer}` } });
      const statuses = [];
      for (let i = 0; i < 4; i++) statuses.push((await get(token)).status);
      expect(statuses).toEqual([200, 200, 200, 429]);
      const refused = (await (await get(token)).json()) as { error: string };
      expect(refused.error).toMatch(/^rate limit: at most 3 requests a minute per token \(serving\.rateLimit\)/);
      // Another token has its own budget; health checks are never limited.
      expect((await get(other)).status).toBe(200);
      expect((await fetch(`${limited.base}/healthz`)).status).toBe(200);
    } finally {
      await limited.server.close();
    }
  });

  it('serves HTTPS with the certificate and key it is given', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cairn-tls-'));
    const [cert, key] = [join(dir, 'cert.pem'), join(dir, 'key.pem')];
    await run('openssl', [
      'req',
      '-x509',
      '-newkey',
      'ed25519',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
      '-keyout',
      key,
      '-out',
      cert,
    ]);
    const secure = await startTestServer(deps, { environment: ENV, tlsCertFile: cert, tlsKeyFile: key });
    try {
      const port = new URL(secure.base).port;
      const body = await new Promise<string>((resolve, reject) => {
        const req = httpsRequest(
          {
            host: '127.0.0.1',
            port,
            path: '/v1/models',
            ca: readFileSync(cert),
            headers: { authorization: `Bearer ${token}` },
          },
          (res) => {
            let text = '';
            res.on('data', (c: Buffer) => (text += c.toString()));
            res.on('end', () => resolve(text));
          }
        );
        req.on('error', reject);
        req.end();
      });
      expect(JSON.parse(body)).toMatchObject({ environment: ENV });
    } finally {
      await secure.server.close();
    }
  });

  it('is healthy, ready, and exports metrics', async () => {
    expect(await call('GET', '/healthz', undefined, { token: null })).toMatchObject({
      status: 200,
      body: { ok: true },
    });
    expect(await call('GET', '/readyz', undefined, { token: null })).toMatchObject({
      status: 200,
      body: { ready: true, environment: ENV },
    });
    // Metrics need a live token (any role); health does not.
    expect((await call('GET', '/metrics', undefined, { token: null })).status).toBe(401);
    const { body } = await call('GET', '/metrics');
    expect(body.text).toContain(`cairn_serving_loaded_versions{model="${model}",version="1",role="stable"} 1`);
    expect(body.text).toMatch(new RegExp(`cairn_serving_predictions_total\\{model="${model}",version="1"\\} \\d+`));
    expect(body.text).toContain('cairn_serving_request_duration_seconds_bucket');
    expect(body.text).toContain('cairn_serving_feed_flush_errors_total 0');
  });
});

describe('under steady load', () => {
  it('promotes and rolls back with 0 failed requests', async () => {
    const from = await freshFeed();
    type Outcome = { status: number; versions: number[]; sent: number; error?: string };
    const outcomes: Outcome[] = [];
    let stop = false;
    const client = async (c: number) => {
      for (let i = 0; !stop; i++) {
        const sent = performance.now();
        try {
          const start = (c * 37 + i * 5) % 300;
          const answer = await predict({ rows: ROWS.slice(start, start + 5) });
          outcomes.push({
            status: answer.status,
            versions: answer.status === 200 ? predictions(answer).map((p) => p.version) : [],
            sent,
            ...(answer.status === 200 ? {} : { error: String(answer.body.error) }),
          });
        } catch (err) {
          outcomes.push({ status: 0, versions: [], sent, error: String(err) });
        }
      }
    };
    const servedStable = async (version: number) => {
      const deadline = Date.now() + 10_000;
      // The server's own poll (every 200 ms) picks the change up; no refresh() from the test.
      while (server.models.get(model)?.stable.version !== version) {
        if (Date.now() > deadline) throw new Error(`v${version} was not loaded within 10 s`);
        await new Promise((r) => setTimeout(r, 10));
      }
      return performance.now();
    };
    const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

    const clients = Array.from({ length: 8 }, (_, c) => client(c));
    await pause(800);
    await change(moves.promote(2, `release-${model}-2`), 'promote');
    const promotedAt = await servedStable(2);
    await pause(1200);
    const rollbackAt = performance.now();
    await change(moves.rollback(), 'rollback');
    const rolledBackAt = await servedStable(1);
    await pause(1000);
    stop = true;
    await Promise.all(clients);

    const failed = outcomes.filter((o) => o.status !== 200);
    expect(failed).toEqual([]);
    expect(outcomes.length).toBeGreaterThan(200);
    expect(outcomes.every((o) => new Set(o.versions).size === 1)).toBe(true);
    const servedBy = (o: Outcome) => o.versions[0];
    expect(outcomes.filter((o) => servedBy(o) === 2).length).toBeGreaterThan(20);
    expect(outcomes.filter((o) => o.sent > promotedAt && o.sent < rollbackAt).every((o) => servedBy(o) === 2)).toBe(
      true
    );
    const afterRollback = outcomes.filter((o) => o.sent > rolledBackAt);
    expect(afterRollback.length).toBeGreaterThan(20);
    expect(afterRollback.every((o) => servedBy(o) === 1)).toBe(true);

    const [v1, v2] = await Promise.all([feedOf(1, from), feedOf(2, from)]);
    expect(v1.requests + v2.requests).toBe(outcomes.length);
    expect(v1.errors + v2.errors).toBe(0);
    expect(v2.requests).toBe(outcomes.filter((o) => servedBy(o) === 2).length);
    expect(v1.predictions + v2.predictions).toBe(outcomes.length * 5);
  }, 60_000);
});
