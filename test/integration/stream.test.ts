import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { jetstreamManager } from '@nats-io/jetstream';
import type { JetStreamManager } from '@nats-io/jetstream';
import { connect, headers } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createToken, revokeToken } from '../../lib/auth/tokens.js';
import { resolveSourcePath } from '../../lib/pipeline/run-config.js';
import { changeDeployment, moves } from '../../lib/release/deployments.js';
import { answerId, ensureStreams, startStreamConsumer, streamNames, streamSettings } from '../../serving/stream.js';
import type {
  ErrorAnswer,
  PredictionAnswer,
  StreamAnswer,
  StreamConsumer,
  StreamConsumerOptions,
  StreamNames,
} from '../../serving/stream.js';
import { ModelSet } from '../../serving/model-set.js';
import type { LoadedModel, ModelRoute } from '../../serving/model-set.js';
import { trainingPipeline } from '../../workflows/training-pipeline.js';
import { testConfig } from '../helpers/services.js';
import { useServices, withWorker } from '../helpers/temporal.js';

const ctx = useServices();
const { deps } = ctx;

const SPECIES = ['Adelie', 'Chinstrap', 'Gentoo'];
type Row = Record<string, unknown>;
/** Penguin rows as a caller sends them: without the target. */
const ROWS: Row[] = (
  JSON.parse(readFileSync(resolveSourcePath('npm:vega-datasets/data/penguins.json'), 'utf8')) as Row[]
).map(({ Species: _species, ...row }) => row);

const model = `stream-${randomUUID().slice(0, 8)}`;
const other = `stream-${randomUUID().slice(0, 8)}`;

async function train(name: string, rounds: number): Promise<number | null> {
  return withWorker(deps, async (taskQueue) => {
    const handle = await ctx.client.workflow.start(trainingPipeline, {
      taskQueue,
      workflowId: `stream-${randomUUID()}`,
      args: [{ pipeline: 'penguins', model: name, config: { rounds } }],
    });
    return (await handle.result()).model.version;
  });
}

const deploy = (name: string, version: number) =>
  changeDeployment(deps.db, name, 'production', moves.promote(version, null), {
    action: 'promote',
    by: 'stream-test',
    reason: `serve v${version}`,
  });

let nc: NatsConnection;
let jsm: JetStreamManager;
let token: string;

beforeAll(async () => {
  nc = await connect({ servers: testConfig().nats.url });
  jsm = await jetstreamManager(nc);
  token = (await createToken(deps.db, 'stream-client', [`predict:${model}`, `predict:${other}`])).token;
  // v1 and v2 of one model (different configs, so different packages), and a second model deployed later.
  expect(await train(model, 10)).toBe(1);
  expect(await train(model, 30)).toBe(2);
  expect(await train(other, 10)).toBe(1);
});

afterAll(async () => {
  await nc?.close();
});

/** Each test gets its own subjects and streams on the shared NATS server, deleted afterwards. */
const running: StreamConsumer[] = [];
let names: StreamNames;
let prefix: string;
const newPrefix = () => {
  prefix = `t${randomUUID().slice(0, 8)}`;
  names = streamNames(prefix);
};

afterEach(async () => {
  for (const c of running.splice(0)) await c.stop().catch(() => undefined);
  for (const stream of [names.inputStream, names.outputStream]) await jsm.streams.delete(stream).catch(() => false);
});

async function start(
  options: Partial<
    Pick<StreamConsumerOptions, 'ackWait' | 'maxDeliver' | 'models' | 'batchSize' | 'maxAckPending'>
  > = {}
): Promise<StreamConsumer> {
  const consumer = await startStreamConsumer({ ...deps, config: testConfig(), prefix, ...options });
  running.push(consumer);
  return consumer;
}

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 60_000, everyMs = 20) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/**
 * Publishes requests with their message ids, `parallel` at a time, each with the header Authorization: Bearer
 * <token> (the test's predict token unless a message names another, or null for none).
 */
async function publish(
  to: string,
  messages: { id: string; body: string; token?: string | null; authorization?: string }[],
  parallel = 500
) {
  const js = jsm.jetstream();
  const send = (m: (typeof messages)[number]) => {
    const h = headers();
    const bearer = m.token === undefined ? token : m.token;
    if (m.authorization) h.set('Authorization', m.authorization);
    else if (bearer !== null) h.set('Authorization', `Bearer ${bearer}`);
    return js.publish(names.input(to), m.body, { msgID: m.id, headers: h });
  };
  for (let i = 0; i < messages.length; i += parallel) {
    const acks = await Promise.all(messages.slice(i, i + parallel).map(send));
    expect(acks.every((a) => !a.duplicate)).toBe(true);
  }
}

/** Every message in the output stream, with its Nats-Msg-Id. */
async function answers(): Promise<{ msgId: string; subject: string; answer: StreamAnswer }[]> {
  const total = (await jsm.streams.info(names.outputStream)).state.messages;
  const out: { msgId: string; subject: string; answer: StreamAnswer }[] = [];
  if (total === 0) return out;
  const reader = await jsm.jetstream().consumers.get(names.outputStream);
  const messages = await reader.consume({ max_messages: 1000 });
  for await (const m of messages) {
    out.push({ msgId: m.headers?.get('Nats-Msg-Id') ?? '', subject: m.subject, answer: m.json<StreamAnswer>() });
    if (out.length === total) break;
  }
  await messages.close();
  return out;
}

async function consumerState(name: string) {
  const info = await jsm.consumers.info(names.inputStream, names.consumer(name));
  return { pending: info.num_pending, ackPending: info.num_ack_pending, redelivered: info.num_redelivered };
}

const isPrediction = (a: StreamAnswer): a is PredictionAnswer => 'predictions' in a;

describe('stream inference on JetStream', () => {
  it('answers 10,000 messages exactly once through a crash of the consumer in the middle', async () => {
    newPrefix();
    await deploy(model, 1);
    await ensureStreams(jsm, streamSettings({ config: testConfig(), prefix }));
    const total = 10_000;
    const sent = Array.from({ length: total }, (_, i) => ({
      id: `msg-${i}`,
      body: JSON.stringify({ row: ROWS[i % ROWS.length] }),
    }));
    let t = Date.now();
    await publish(model, sent);
    const publishMs = Date.now() - t;

    // A short ack wait, so what the crash leaves unacknowledged comes back within the test.
    t = Date.now();
    const first = await start({ ackWait: '2s' });
    await until('3,000 answers', () => first.stats.answered >= 3000, 60_000, 1);
    const firstMs = Date.now() - t;
    await first.abort();
    const firstStats = { ...first.stats };
    expect(firstStats.answered).toBeLessThan(total);

    const second = await start({ ackWait: '2s' });
    await until('every message answered and acknowledged', async () => {
      const s = await consumerState(model);
      return s.pending === 0 && s.ackPending === 0;
    });
    const elapsedMs = Date.now() - t;
    await second.stop();

    const out = await answers();
    console.log(
      JSON.stringify(
        { publishMs, firstMs, elapsedMs, first: firstStats, second: second.stats, outputs: out.length },
        null,
        1
      )
    );
    expect(out).toHaveLength(total);
    const ids = new Set(out.map((o) => o.answer.id));
    expect(ids.size).toBe(total);
    expect(sent.every((m) => ids.has(m.id))).toBe(true);

    const byRow = new Map<number, string>();
    for (const { msgId, subject, answer } of out) {
      expect(subject).toBe(names.output(model));
      expect(msgId).toBe(answerId(model, answer.id));
      expect(isPrediction(answer) && answer.version === 1 && answer.model === model).toBe(true);
      const [prediction] = (answer as PredictionAnswer).predictions;
      expect((answer as PredictionAnswer).predictions).toHaveLength(1);
      expect(SPECIES).toContain((prediction as { label: string }).label);
      const probabilities = Object.values((prediction as { probabilities: Record<string, number> }).probabilities);
      expect(probabilities.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 6);
      // The same row always gets the same answer, before and after the crash.
      const row = Number(answer.id.slice('msg-'.length)) % ROWS.length;
      const label = (prediction as { label: string }).label;
      expect(byRow.get(row) ?? label).toBe(label);
      byRow.set(row, label);
    }

    // The crash mattered: what the first consumer had in flight came back to the second.
    expect(second.stats.redelivered).toBeGreaterThan(0);
    expect(firstStats.answered + second.stats.answered).toBeGreaterThanOrEqual(total);
  }, 180_000);

  it('answers malformed messages with an error naming the field and row, acknowledges them, and keeps going', async () => {
    newPrefix();
    await deploy(model, 1);
    const consumer = await start();
    const good = ROWS[0]!;
    const cases: Record<string, string> = {
      'bad-json': '{"row": {"Island": "Biscoe",',
      'not-an-object': '[1, 2, 3]',
      'no-rows': JSON.stringify({ rwos: [good] }),
      'row-not-object': JSON.stringify({ rows: [good, 'Gentoo'] }),
      'wrong-type': JSON.stringify({ row: { ...good, 'Body Mass (g)': 'heavy' } }),
      'second-row-bad': JSON.stringify({ rows: [good, { ...good, Island: 'Atlantis' }] }),
      'unknown-field': JSON.stringify({ row: { ...good, Species: 'Adelie' } }),
      good: JSON.stringify({ rows: [good, ROWS[200]] }),
    };
    await publish(
      model,
      Object.entries(cases).map(([id, body]) => ({ id, body }))
    );
    await until('all answered', () => consumer.stats.answered === Object.keys(cases).length);
    const byId = Object.fromEntries((await answers()).map((o) => [o.answer.id, o.answer]));
    expect(Object.keys(byId).sort()).toEqual(Object.keys(cases).sort());

    const problems = (id: string) => (byId[id] as ErrorAnswer).problems;
    for (const id of Object.keys(cases).filter((k) => k !== 'good')) {
      expect(byId[id]).toMatchObject({ id, model, error: expect.any(String), problems: expect.any(Array) });
      expect(problems(id).length).toBeGreaterThan(0);
    }
    expect(problems('no-rows')).toEqual([
      { field: 'rwos', message: expect.stringMatching(/^unknown field/) },
      { field: '(body)', message: 'expected exactly one of row or rows' },
    ]);
    expect(problems('bad-json')).toEqual([{ field: '(body)', message: expect.stringMatching(/^not JSON/) }]);
    expect(problems('row-not-object')).toEqual([{ field: 'rows', row: 1, message: expect.any(String) }]);
    expect(problems('wrong-type')).toEqual([expect.objectContaining({ field: 'Body Mass (g)', row: 0 })]);
    expect(problems('second-row-bad')).toEqual([expect.objectContaining({ field: 'Island', row: 1 })]);
    expect(problems('unknown-field')).toEqual([expect.objectContaining({ field: 'Species' })]);
    expect(byId.good).toMatchObject({ id: 'good', model, version: 1, predictions: [{}, {}] });

    // Acknowledged once, never handed back.
    expect(await consumerState(model)).toEqual({ pending: 0, ackPending: 0, redelivered: 0 });
    expect(consumer.stats).toMatchObject({ rejected: 7, retried: 0, terminated: 0, redelivered: 0 });
  });

  it('answers a message without a valid token for the model with an error, and no prediction', async () => {
    newPrefix();
    await deploy(model, 1);
    const consumer = await start();
    const elsewhere = (await createToken(deps.db, 'other-team', ['predict:some-other-model'])).token;
    const revoked = await createToken(deps.db, 'gone', [`predict:${model}`]);
    await revokeToken(deps.db, revoked.id);
    const body = JSON.stringify({ row: ROWS[0] });
    await publish(model, [
      { id: 'no-token', body, token: null },
      { id: 'not-bearer', body, authorization: 'Basic abc' },
      { id: 'unknown', body, token: 'cairn_nope' },
      { id: 'revoked', body, token: revoked.token },
      { id: 'wrong-model', body, token: elsewhere },
      { id: 'good', body },
    ]);
    await until('all answered', () => consumer.stats.answered === 6);
    const byId = Object.fromEntries((await answers()).map((o) => [o.answer.id, o.answer]));
    const refusal = (message: string) => ({
      model,
      error: `unauthorized: ${message}`,
      problems: [{ field: '(header) Authorization', message }],
    });
    expect(byId['no-token']).toMatchObject(
      refusal(`missing: send Authorization: Bearer <token> (role predict:${model})`)
    );
    expect(byId['not-bearer']).toMatchObject(refusal('must read "Bearer <token>"'));
    expect(byId.unknown).toMatchObject(refusal('unknown, expired or revoked token'));
    expect(byId.revoked).toMatchObject(refusal('unknown, expired or revoked token'));
    expect(byId['wrong-model']).toMatchObject(refusal(`other-team does not hold the role predict:${model}`));
    for (const id of ['no-token', 'not-bearer', 'unknown', 'revoked', 'wrong-model'])
      expect(byId[id]).not.toHaveProperty('predictions');
    expect(byId.good).toMatchObject({ version: 1, predictions: [{ label: expect.any(String) }] });
    expect(consumer.stats).toMatchObject({ predictions: 1, rejected: 5 });
  });

  it('retries a message that fails inside the consumer, then answers it with an error and terminates it', async () => {
    newPrefix();
    await deploy(model, 1);
    /** The served models, with a scorer that crashes for requests keyed `boom`. */
    class FaultyModels extends ModelSet {
      override pick(route: ModelRoute, key?: string): LoadedModel {
        const loaded = super.pick(route, key);
        if (key !== 'boom') return loaded;
        const score = () => {
          throw new Error('scorer crashed');
        };
        return { ...loaded, scorer: { ...loaded.scorer, score } };
      }
    }
    const models = new FaultyModels(deps, 'production', 'stream');
    const consumer = await start({ models, maxDeliver: 2 });
    await publish(model, [
      { id: 'boom-1', body: JSON.stringify({ row: ROWS[0], key: 'boom' }) },
      { id: 'fine-1', body: JSON.stringify({ row: ROWS[0] }) },
    ]);
    await until('both answered', async () => (await answers()).length === 2, 20_000, 100);
    const byId = Object.fromEntries((await answers()).map((o) => [o.answer.id, o.answer]));
    expect(byId['boom-1']).toEqual({
      id: 'boom-1',
      model,
      error: 'internal error after 2 deliveries: scorer crashed',
      problems: [],
    });
    expect(byId['fine-1']).toMatchObject({ version: 1, predictions: [{ label: expect.any(String) }] });
    expect(consumer.stats).toMatchObject({ retried: 1, terminated: 1, redelivered: 1, answered: 1 });
    await until('nothing pending', async () => {
      const s = await consumerState(model);
      return s.pending === 0 && s.ackPending === 0;
    });
  });

  it('answers with an error, once, the messages a crash left without deliveries to spare', async () => {
    newPrefix();
    await deploy(model, 1);
    await ensureStreams(jsm, streamSettings({ config: testConfig(), prefix }));
    const total = 2000;
    await publish(
      model,
      Array.from({ length: total }, (_, i) => ({ id: `once-${i}`, body: JSON.stringify({ row: ROWS[i % 300] }) }))
    );
    // One delivery each: what the crashed consumer held cannot be delivered again. Small batches and few messages
    // in flight, so the crash comes before it has everything.
    const first = await start({ ackWait: '2s', maxDeliver: 1, batchSize: 50, maxAckPending: 400 });
    await until('500 answers', () => first.stats.answered >= 500, 60_000, 1);
    await first.abort();
    const second = await start({ ackWait: '2s', maxDeliver: 1 });
    await until('an answer for every message', async () => (await answers()).length === total, 30_000, 200);
    const out = await answers();
    expect(new Set(out.map((o) => o.answer.id)).size).toBe(total);
    const abandoned = out.filter((o) => !isPrediction(o.answer)).map((o) => o.answer);
    expect(abandoned.length).toBeGreaterThan(0);
    expect(abandoned.every((a) => (a as ErrorAnswer).error === 'not answered after 1 deliveries')).toBe(true);
    expect(second.stats.redelivered).toBe(0);
    console.log(JSON.stringify({ abandoned: abandoned.length, first: first.stats, second: second.stats }));
  });

  it('follows deployment changes without a restart: a promoted version and a newly deployed model', async () => {
    newPrefix();
    await deploy(model, 1);
    const consumer = await start();
    const round = async (name: string, tag: string, n: number) => {
      const before = consumer.stats.answered;
      await publish(
        name,
        Array.from({ length: n }, (_, i) => ({ id: `${tag}-${i}`, body: JSON.stringify({ row: ROWS[i] }) }))
      );
      await until(`${tag} answered`, () => consumer.stats.answered === before + n);
      return (await answers()).filter((o) => o.answer.id.startsWith(`${tag}-`)).map((o) => o.answer);
    };

    expect((await round(model, 'before', 50)).map((a) => (a as PredictionAnswer).version)).toEqual(
      new Array(50).fill(1)
    );

    await deploy(model, 2);
    const t = Date.now();
    await until('v2 served', () => consumer.models.get(model)?.stable.version === 2, 10_000);
    const reloadMs = Date.now() - t;
    expect((await round(model, 'after', 50)).map((a) => (a as PredictionAnswer).version)).toEqual(
      new Array(50).fill(2)
    );

    await deploy(other, 1);
    await until(`a consumer for ${other}`, () => consumer.consuming().includes(other), 10_000);
    const answered = await round(other, 'other', 5);
    expect(answered.map((a) => [a.model, (a as PredictionAnswer).version])).toEqual(new Array(5).fill([other, 1]));
    console.log(JSON.stringify({ reloadMs, consuming: consumer.consuming() }));
  });
});
