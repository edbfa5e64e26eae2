import { durationMs as parseDuration } from '../lib/config/duration.js';
import {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  jetstreamManager,
  ReplayPolicy,
  RetentionPolicy,
  StorageType,
} from '@nats-io/jetstream';
import type {
  ConsumerInfo,
  ConsumerUpdateConfig,
  JetStreamClient,
  JetStreamManager,
  JsMsg,
  StreamInfo,
} from '@nats-io/jetstream';
import type { ConsumerMessages } from '@nats-io/jetstream';
import { connect, nanos } from '@nats-io/transport-node';
import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import { z } from 'zod';
import type { ArtifactStore } from '../lib/artifacts/index.js';
import { ConfigError, redactSecrets } from '../lib/config/index.js';
import type { CairnConfig } from '../lib/config/index.js';
import type { Pool } from '../lib/db/pool.js';
import type { Logger } from '../lib/logging/logger.js';
import { ScoringInputError } from '../lib/scoring/scorer.js';
import type { InputProblem, Prediction } from '../lib/scoring/scorer.js';
import { grants } from '../lib/auth/tokens.js';
import { watchRevocations } from '../lib/auth/revocations.js';
import { PackageTrust } from '../lib/signing/packages.js';
import { TokenCache } from './auth.js';
import { ModelSet } from './model-set.js';
import { boundedError, parseClientJson, RefusedJsonError } from './requests.js';

/** `'250ms'`, `'30s'`, `'10m'`, `'2h'`, or milliseconds. */
export type Duration = number | string;

export interface StreamConsumerOptions {
  config: CairnConfig;
  db: Pool;
  store: ArtifactStore;
  logger: Logger;
  /**
   * The served models, when the online server in the same process already keeps them. By default the consumer keeps
   * its own for `serving.environment`, reloaded every `serving.reloadInterval`, and stops it on stop().
   */
  models?: ModelSet;
  /**
   * First token of the subjects and stem of the stream and consumer names: `<prefix>.predict.<model>` in,
   * `<prefix>.predictions.<model>` out, streams `<PREFIX>_PREDICT` and `<PREFIX>_PREDICTIONS`, consumers
   * `<prefix>-predict-<model>`. Letters, digits, `-` and `_`. @default 'cairn'
   */
  prefix?: string;
  /** Messages a consumer scores and answers together. @default 256 */
  batchSize?: number;
  /** Batches of one model in flight at once (scored, their answers waiting for JetStream). @default 4 */
  concurrency?: number;
  /**
   * Messages of one model delivered and not yet acknowledged, over all consumer processes: bounds memory, and how
   * many a crash hands back for redelivery. @default batchSize × concurrency × 4
   */
  maxAckPending?: number;
  /** How long JetStream waits for an acknowledgement before it delivers a message again. @default '30s' */
  ackWait?: Duration;
  /**
   * Deliveries of a message that keeps failing for an internal reason (not its input) before it is answered with an
   * error and terminated; redeliveries after a crash count too. @default 10
   */
  maxDeliver?: number;
  /**
   * How long the streams remember message ids to drop repeats. An answer is published at most once per input id
   * within this window: it must be longer than a consumer can stay down with messages in flight. @default '10m'
   */
  duplicateWindow?: Duration;
  /** How long the streams keep messages. @default '168h' */
  maxAge?: Duration;
}

/** StreamConsumerOptions with every default applied and durations in milliseconds. */
export interface StreamSettings {
  prefix: string;
  batchSize: number;
  concurrency: number;
  maxAckPending: number;
  ackWaitMs: number;
  maxDeliver: number;
  duplicateWindowMs: number;
  maxAgeMs: number;
  reloadIntervalMs: number;
}

/** A message asking for predictions: one row or several, with an optional key that keeps a caller on one version. */
export interface StreamRequest {
  row?: Record<string, unknown>;
  rows?: Record<string, unknown>[];
  /** Canary splits are sticky by this key; by the message id when absent. */
  key?: string;
}

export interface PredictionAnswer {
  /** The input message id. */
  id: string;
  model: string;
  version: number;
  /** One per input row, in order. */
  predictions: Prediction[];
}

export interface ErrorAnswer {
  id: string;
  model: string;
  error: string;
  /** What is wrong with the input, by field and row; empty for an internal failure. */
  problems: InputProblem[];
}

export type StreamAnswer = PredictionAnswer | ErrorAnswer;

export interface StreamStats {
  /** Deliveries to this process, redeliveries included. */
  received: number;
  /** Deliveries of messages delivered before and never acknowledged (after a crash, a timeout or a retry). */
  redelivered: number;
  /** Messages answered: the answer stored by JetStream, then the input acknowledged. */
  answered: number;
  /** Of those, answered with an error because the input was bad. */
  rejected: number;
  /** Answers JetStream dropped as repeats: the message had been answered before, its acknowledgement was lost. */
  duplicates: number;
  /** Rows scored. */
  predictions: number;
  /** Internal failures handed back to JetStream for a later delivery. */
  retried: number;
  /** Messages given up on after `maxDeliver` deliveries: answered with an error when possible, then terminated. */
  terminated: number;
}

export interface StreamConsumer {
  /** Live counters of this process. */
  readonly stats: Readonly<StreamStats>;
  readonly names: StreamNames;
  readonly settings: StreamSettings;
  readonly models: ModelSet;
  /** Models with a running consumer. */
  consuming(): string[];
  /** Resolves once the NATS server has answered a round trip: rejects, or never settles, while it is away. */
  ping(): Promise<void>;
  /** Reloads the deployments now and starts or stops consumers to match, instead of waiting for the next interval. */
  refresh(): Promise<void>;
  /** Stops pulling, answers what was delivered, then closes the connection with its acknowledgements flushed. */
  stop(): Promise<void>;
  /**
   * Closes the connection at once, as a crash would: messages in flight are not acknowledged, so JetStream delivers
   * them again after `ackWait` and the duplicate window drops the answers that were already published.
   */
  abort(): Promise<void>;
}

/** Subjects, streams and consumers under one prefix. */
export interface StreamNames {
  prefix: string;
  inputStream: string;
  outputStream: string;
  /** Where producers publish requests for `model`. */
  input(model: string): string;
  /** Where answers for `model` appear. */
  output(model: string): string;
  /** The durable pull consumer of `model`'s requests. */
  consumer(model: string): string;
}

const PREFIX = /^[A-Za-z0-9_-]+$/;
const MSG_ID = 'Nats-Msg-Id';

export function streamNames(prefix = 'cairn'): StreamNames {
  if (!PREFIX.test(prefix)) {
    throw new ConfigError(`stream prefix ${JSON.stringify(prefix)}: expected letters, digits, '-' and '_' only`);
  }
  const stem = prefix.toUpperCase().replace(/-/g, '_');
  return {
    prefix,
    inputStream: `${stem}_PREDICT`,
    outputStream: `${stem}_PREDICTIONS`,
    input: (model) => `${prefix}.predict.${model}`,
    output: (model) => `${prefix}.predictions.${model}`,
    consumer: (model) => `${prefix}-predict-${model}`,
  };
}

/**
 * The id an answer is published under: the input id scoped by model, because the output stream's duplicate window
 * spans every model and two models may well be asked about the same id.
 */
export function answerId(model: string, id: string): string {
  return `${model}:${id}`;
}

function durationMs(value: Duration, name: string): number {
  try {
    return parseDuration(value);
  } catch (err) {
    throw new ConfigError(`${name}: ${(err as Error).message}`);
  }
}

function positiveInt(value: number, name: string): number {
  if (!Number.isInteger(value) || value < 1) throw new ConfigError(`${name}: expected a positive integer`);
  return value;
}

/** Compiles options into settings, defaults applied and checked. */
export function streamSettings(
  options: Omit<StreamConsumerOptions, 'db' | 'store' | 'logger' | 'models'>
): StreamSettings {
  const batchSize = positiveInt(options.batchSize ?? 256, 'batchSize');
  const concurrency = positiveInt(options.concurrency ?? 4, 'concurrency');
  const settings: StreamSettings = {
    prefix: streamNames(options.prefix).prefix,
    batchSize,
    concurrency,
    maxAckPending: positiveInt(options.maxAckPending ?? batchSize * concurrency * 4, 'maxAckPending'),
    ackWaitMs: durationMs(options.ackWait ?? '30s', 'ackWait'),
    maxDeliver: positiveInt(options.maxDeliver ?? 10, 'maxDeliver'),
    duplicateWindowMs: durationMs(options.duplicateWindow ?? '10m', 'duplicateWindow'),
    maxAgeMs: durationMs(options.maxAge ?? '168h', 'maxAge'),
    reloadIntervalMs: durationMs(options.config.serving.reloadInterval, 'serving.reloadInterval'),
  };
  if (settings.ackWaitMs < 1000) throw new ConfigError('ackWait: expected at least 1s');
  if (settings.duplicateWindowMs < settings.ackWaitMs)
    throw new ConfigError('duplicateWindow: must be at least ackWait, or redeliveries would be answered twice');
  if (settings.maxAgeMs !== 0 && settings.duplicateWindowMs > settings.maxAgeMs)
    throw new ConfigError('duplicateWindow: must not exceed maxAge');
  return settings;
}

const fields = z.record(z.string(), z.unknown(), { error: 'expected an object of field values' });
const requestSchema = z
  .strictObject({ row: fields.optional(), rows: z.array(fields).min(1).optional(), key: z.string().min(1).optional() })
  .refine((r) => (r.row === undefined) !== (r.rows === undefined), { message: 'expected exactly one of row or rows' });

const decoder = new TextDecoder();

/** The rows and key of a request message, or what is wrong with it. */
export function readRequest(data: Uint8Array): { rows: Record<string, unknown>[]; key?: string } | InputProblem[] {
  let body: unknown;
  try {
    body = parseClientJson(decoder.decode(data));
  } catch (err) {
    const message = (err as Error).message;
    return [{ field: '(body)', message: err instanceof RefusedJsonError ? message : `not JSON: ${message}` }];
  }
  const parsed = requestSchema.safeParse(body);
  if (!parsed.success) {
    return parsed.error.issues.flatMap((issue): InputProblem[] => {
      if (issue.code === 'unrecognized_keys') {
        return issue.keys.map((field) => ({ field, message: 'unknown field (expected row or rows, and key)' }));
      }
      const [field, row] = issue.path;
      return [
        {
          field: field === undefined ? '(body)' : String(field),
          ...(typeof row === 'number' ? { row } : {}),
          message: issue.message,
        },
      ];
    });
  }
  const { row, rows, key } = parsed.data;
  return { rows: rows ?? [row!], ...(key === undefined ? {} : { key }) };
}

function rejection(id: string, model: string, problems: InputProblem[]): ErrorAnswer {
  // As small as the HTTP error answers, however many problems a message had.
  return {
    id,
    model,
    ...(boundedError({ error: new ScoringInputError(problems).message, problems }) as Omit<
      ErrorAnswer,
      'id' | 'model'
    >),
  };
}

function messageId(msg: JsMsg): string {
  return msg.headers?.get(MSG_ID) || `seq-${msg.seq}`;
}

/** Acks, naks and terms are fire-and-forget; on a closed connection they throw, and redelivery covers them. */
function settle(fn: () => void): void {
  try {
    fn();
  } catch {
    // The message is redelivered after ackWait.
  }
}

const reason = (err: unknown) => (err instanceof Error ? err.message : String(err));

/** What every model consumer of one process shares. */
interface Shared {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  names: StreamNames;
  settings: StreamSettings;
  models: ModelSet;
  logger: Logger;
  stats: StreamStats;
  tokens: TokenCache;
  aborted: boolean;
}

/**
 * Why a message may not be answered with predictions: it must carry the header `Authorization: Bearer <token>`
 * with a live token holding `predict:<model>` (as the HTTP endpoint asks). Undefined when it may.
 */
async function tokenProblem(tokens: TokenCache, msg: JsMsg, model: string): Promise<InputProblem | undefined> {
  const field = '(header) Authorization';
  const header = msg.headers?.get('Authorization');
  if (!header) return { field, message: `missing: send Authorization: Bearer <token> (role predict:${model})` };
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!match) return { field, message: 'must read "Bearer <token>"' };
  const principal = await tokens.lookup(match[1]!);
  if (!principal) return { field, message: 'unknown, expired or revoked token' };
  if (!grants(principal.roles, `predict:${model}`))
    return { field, message: `${principal.principal} does not hold the role predict:${model}` };
  return undefined;
}

/** One model's durable pull consumer: pulls, scores in batches, answers, acknowledges. */
class ModelConsumer {
  private messages: ConsumerMessages | undefined;
  private readonly waiting: JsMsg[] = [];
  private running = 0;
  private scheduled = false;
  private idle: (() => void)[] = [];
  private readonly subject: string;
  /** The consumer was deleted on the server: the next reconcile creates it again. */
  lost = false;

  constructor(
    readonly model: string,
    private readonly shared: Shared
  ) {
    this.subject = shared.names.output(model);
  }

  async start(): Promise<void> {
    const { js, jsm, names, settings } = this.shared;
    const durable = names.consumer(this.model);
    const changeable: Partial<ConsumerUpdateConfig> = {
      description: `Cairn stream inference: ${this.model}`,
      ack_wait: nanos(settings.ackWaitMs),
      max_deliver: settings.maxDeliver,
      max_ack_pending: settings.maxAckPending,
    };
    let info: ConsumerInfo;
    try {
      info = await jsm.consumers.add(names.inputStream, {
        durable_name: durable,
        filter_subject: names.input(this.model),
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        replay_policy: ReplayPolicy.Instant,
        ...changeable,
      });
    } catch (err) {
      // It exists with other settings (made by an older release, or with another ackWait): bring it to these.
      if (!(err instanceof JetStreamApiError)) throw err;
      info = await jsm.consumers.update(names.inputStream, durable, changeable).catch(() => Promise.reject(err));
    }
    this.messages = await js.consumers.getConsumerFromInfo(info).consume({
      max_messages: settings.batchSize,
      callback: (msg) => this.receive(msg),
    });
    this.watch(this.messages).catch(() => undefined);
  }

  private async watch(messages: ConsumerMessages): Promise<void> {
    for await (const status of messages.status()) {
      if (status.type === 'consumer_deleted' || status.type === 'consumer_not_found') {
        this.shared.logger.warn({ model: this.model, status }, 'stream consumer gone; recreating it');
        this.lost = true;
        void messages.close();
      }
    }
  }

  /** Stops pulling, then waits until every delivered message is answered or handed back. */
  async drain(): Promise<void> {
    await this.messages?.close();
    if (this.running === 0 && this.waiting.length === 0) return;
    await new Promise<void>((resolve) => this.idle.push(resolve));
  }

  private receive(msg: JsMsg): void {
    const { stats, settings } = this.shared;
    stats.received++;
    if (msg.redelivered) stats.redelivered++;
    this.waiting.push(msg);
    if (this.waiting.length >= settings.batchSize) this.pump();
    else if (!this.scheduled) {
      // Messages that arrive together (one socket read) become one batch.
      this.scheduled = true;
      setImmediate(() => {
        this.scheduled = false;
        this.pump();
      });
    }
  }

  private pump(): void {
    const { settings, logger } = this.shared;
    while (this.running < settings.concurrency && this.waiting.length > 0) {
      const batch = this.waiting.splice(0, settings.batchSize);
      this.running++;
      void this.process(batch)
        .catch((err: unknown) => logger.error({ err, model: this.model }, 'stream batch failed'))
        .finally(() => {
          this.running--;
          if (this.waiting.length > 0) this.pump();
          else if (this.running === 0) for (const resolve of this.idle.splice(0)) resolve();
        });
    }
  }

  private async process(batch: JsMsg[]): Promise<void> {
    const { models, stats } = this.shared;
    const route = models.get(this.model);
    const answers: Promise<unknown>[] = [];
    const failures: unknown[] = [];
    const failed = (msg: JsMsg, id: string, err: unknown) => {
      failures.push(err);
      return this.failed(msg, id, err);
    };
    const fail = (msg: JsMsg, id: string, err: unknown) => answers.push(failed(msg, id, err));
    const send = (msg: JsMsg, id: string, answer: StreamAnswer) =>
      answers.push(this.answer(msg, id, answer).catch((err: unknown) => failed(msg, id, err)));
    // Tokens first, for the whole batch: known ones are answered from the cache without a query.
    const refusals = await Promise.all(
      batch.map((msg) => tokenProblem(this.shared.tokens, msg, this.model).catch((err: unknown) => err as Error))
    );
    for (const [i, msg] of batch.entries()) {
      const id = messageId(msg);
      const refusal = refusals[i];
      if (refusal instanceof Error) {
        fail(msg, id, refusal);
        continue;
      }
      if (refusal) {
        send(msg, id, { id, model: this.model, error: `unauthorized: ${refusal.message}`, problems: [refusal] });
        continue;
      }
      const request = readRequest(msg.data);
      if (Array.isArray(request)) {
        send(msg, id, rejection(id, this.model, request));
        continue;
      }
      if (!route) {
        fail(msg, id, new Error(`model ${this.model} is not served in ${models.environment}`));
        continue;
      }
      const served = models.pick(route, request.key ?? id);
      let answer: StreamAnswer;
      try {
        const table = served.scorer.parseRows(request.rows);
        const raw = await served.scorer.score(table);
        const predictions: Prediction[] = new Array(table.rowCount);
        for (let i = 0; i < table.rowCount; i++) predictions[i] = served.scorer.prediction(raw, i);
        stats.predictions += table.rowCount;
        answer = { id, model: this.model, version: served.version, predictions };
      } catch (err) {
        if (!(err instanceof ScoringInputError)) {
          fail(msg, id, err);
          continue;
        }
        answer = rejection(id, this.model, err.problems);
      }
      send(msg, id, answer);
    }
    await Promise.all(answers);
    if (failures.length > 0 && !this.shared.aborted) {
      this.shared.logger.warn(
        { model: this.model, failed: failures.length, batch: batch.length, err: failures[0] },
        'stream messages failed: retried later, or answered with an error on their last delivery'
      );
    }
  }

  /** Publishes the answer and, once JetStream has stored it (or dropped it as a repeat), acknowledges the input. */
  private async answer(msg: JsMsg, id: string, answer: StreamAnswer): Promise<void> {
    const { js, nc, stats } = this.shared;
    let payload = JSON.stringify(answer);
    const limit = nc.info?.max_payload ?? Infinity;
    const bytes = Buffer.byteLength(payload);
    if (bytes > limit - 1024) {
      // Retrying cannot help: the answer to this many rows does not fit in one message.
      answer = rejection(id, this.model, [
        {
          field: 'rows',
          message: `the answer would take ${bytes} bytes, over the server's limit of ${limit}; send fewer rows per message`,
        },
      ]);
      payload = JSON.stringify(answer);
    }
    const ack = await js.publish(this.subject, payload, { msgID: answerId(this.model, id) });
    if (ack.duplicate) stats.duplicates++;
    settle(() => msg.ack());
    stats.answered++;
    if ('error' in answer) stats.rejected++;
  }

  /** An internal failure: delivered again later, or on its last delivery answered with an error and terminated. */
  private async failed(msg: JsMsg, id: string, err: unknown): Promise<void> {
    const { settings, stats, logger, aborted } = this.shared;
    if (aborted) return;
    const deliveries = msg.info.deliveryCount;
    if (deliveries < settings.maxDeliver) {
      stats.retried++;
      settle(() => msg.nak(Math.min(1000 * 2 ** (deliveries - 1), settings.ackWaitMs)));
      return;
    }
    const error = `internal error after ${deliveries} deliveries: ${reason(err)}`;
    logger.error({ err, model: this.model, id, deliveries }, 'stream message given up');
    await this.shared.js
      .publish(this.subject, JSON.stringify({ id, model: this.model, error, problems: [] } satisfies ErrorAnswer), {
        msgID: answerId(this.model, id),
      })
      .catch((publishErr: unknown) => logger.error({ err: publishErr, id }, 'could not publish the error answer'));
    // No reason: servers before 2.11 take `+TERM <reason>` for no acknowledgement at all.
    settle(() => msg.term());
    stats.terminated++;
  }
}

/** Creates one stream, or brings the settings Cairn owns in line. */
async function ensureStream(
  jsm: JetStreamManager,
  wanted: { name: string; subjects: string[]; duplicate_window: number; max_age: number }
): Promise<'created' | 'updated' | 'unchanged'> {
  let info: StreamInfo;
  try {
    info = await jsm.streams.info(wanted.name);
  } catch (err) {
    if (!(err instanceof JetStreamApiError) || err.code !== JetStreamApiCodes.StreamNotFound) throw err;
    try {
      await jsm.streams.add({
        ...wanted,
        storage: StorageType.File,
        retention: RetentionPolicy.Limits,
        discard: DiscardPolicy.Old,
      });
      return 'created';
    } catch (addErr) {
      // Another process created it between our look and our add.
      if (!(addErr instanceof JetStreamApiError)) throw addErr;
      info = await jsm.streams.info(wanted.name);
    }
  }
  const c = info.config;
  if (
    c.subjects.length === wanted.subjects.length &&
    c.subjects.every((s, i) => s === wanted.subjects[i]) &&
    c.duplicate_window === wanted.duplicate_window &&
    c.max_age === wanted.max_age
  ) {
    return 'unchanged';
  }
  await jsm.streams.update(wanted.name, {
    subjects: wanted.subjects,
    duplicate_window: wanted.duplicate_window,
    max_age: wanted.max_age,
  });
  return 'updated';
}

/**
 * Creates both streams, or brings their subjects, duplicate window and retention in line with `settings`; what an
 * operator set beyond those (replicas, limits) is kept. Producers may call it before the first consumer starts.
 */
export async function ensureStreams(
  jsm: JetStreamManager,
  settings: Pick<StreamSettings, 'prefix' | 'duplicateWindowMs' | 'maxAgeMs'>
): Promise<Record<string, 'created' | 'updated' | 'unchanged'>> {
  const names = streamNames(settings.prefix);
  const common = { duplicate_window: nanos(settings.duplicateWindowMs), max_age: nanos(settings.maxAgeMs) };
  return {
    [names.inputStream]: await ensureStream(jsm, {
      name: names.inputStream,
      subjects: [`${names.prefix}.predict.>`],
      ...common,
    }),
    [names.outputStream]: await ensureStream(jsm, {
      name: names.outputStream,
      subjects: [`${names.prefix}.predictions.>`],
      ...common,
    }),
  };
}

/** Answers messages whose consumer gave up on them without an answer (max deliveries reached by timeouts). */
async function answerAbandoned(shared: Shared, advisory: Msg): Promise<void> {
  const { jsm, js, names, logger } = shared;
  const { stream_seq: seq, deliveries } = advisory.json<{ stream_seq: number; deliveries: number }>();
  const stored = await jsm.streams.getMessage(names.inputStream, { seq });
  if (!stored) return;
  const model = stored.subject.slice(names.input('').length);
  const id = stored.header?.get(MSG_ID) || `seq-${seq}`;
  const answer: ErrorAnswer = { id, model, error: `not answered after ${deliveries} deliveries`, problems: [] };
  const ack = await js.publish(names.output(model), JSON.stringify(answer), { msgID: answerId(model, id) });
  // A duplicate: it had been answered, only the acknowledgements were lost.
  if (!ack.duplicate) logger.error({ model, id, seq, deliveries }, 'stream message abandoned; answered with an error');
}

/**
 * Streaming inference on NATS JetStream. Producers publish `{ row }` or `{ rows }` to `<prefix>.predict.<model>`
 * with a `Nats-Msg-Id`; each is scored by the version deployed in `serving.environment` (the same ModelSet, loading
 * and reload as the online server) and answered on `<prefix>.predictions.<model>` with `{ id, model, version,
 * predictions }`, or `{ id, model, error, problems }` for a bad message.
 *
 * Each message is answered exactly once: the input is acknowledged only after JetStream stored the answer, so a
 * crash can only cause a redelivery, and the answer is published under the input's id, so JetStream drops the
 * repeat within `duplicateWindow`.
 */
export async function startStreamConsumer(options: StreamConsumerOptions): Promise<StreamConsumer> {
  const { config, logger } = options;
  const settings = streamSettings(options);
  const names = streamNames(settings.prefix);
  const ownModels = !options.models;
  const models =
    options.models ??
    new ModelSet(
      { db: options.db, store: options.store, logger, trust: new PackageTrust(config.signing.trustDir!) },
      config.serving.environment,
      'stream'
    );

  let nc: NatsConnection;
  try {
    nc = await connect({ servers: config.nats.url, name: 'cairn-stream', maxReconnectAttempts: -1 });
  } catch (err) {
    throw new ConfigError(
      `cannot reach NATS at ${redactSecrets(config.nats.url)} (nats.url / NATS_URL): ${reason(err)}`
    );
  }

  const tokens = new TokenCache(options.db);
  const revocations = watchRevocations(config, (tokenId) => tokens.forget(tokenId), logger);
  const consumers = new Map<string, ModelConsumer>();
  let timer: NodeJS.Timeout | undefined;
  let advisories: Subscription | undefined;
  let reconciling: Promise<void> | undefined;
  let stopping: Promise<void> | undefined;
  const stats: StreamStats = {
    received: 0,
    redelivered: 0,
    answered: 0,
    rejected: 0,
    duplicates: 0,
    predictions: 0,
    retried: 0,
    terminated: 0,
  };

  try {
    const jsm = await jetstreamManager(nc);
    const shared: Shared = {
      nc,
      js: jsm.jetstream(),
      jsm,
      names,
      settings,
      models,
      logger,
      stats,
      tokens,
      aborted: false,
    };
    const streams = await ensureStreams(jsm, settings);

    advisories = nc.subscribe(`$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${names.inputStream}.*`, {
      callback: (err, msg) => {
        if (err || shared.aborted) return;
        answerAbandoned(shared, msg).catch((e: unknown) =>
          logger.error({ err: e }, 'could not answer an abandoned message')
        );
      },
    });

    const doReconcile = async () => {
      const served = new Set(models.models().map((r) => r.model));
      for (const [model, consumer] of consumers) {
        if (served.has(model) && !consumer.lost) continue;
        consumers.delete(model);
        await consumer.drain();
        logger.info({ model }, 'stream consumer stopped');
      }
      for (const model of served) {
        if (consumers.has(model) || stopping) continue;
        const consumer = new ModelConsumer(model, shared);
        try {
          await consumer.start();
          consumers.set(model, consumer);
          logger.info(
            { model, subject: names.input(model), consumer: names.consumer(model) },
            'stream consumer started'
          );
        } catch (err) {
          logger.error({ err, model }, 'stream consumer failed to start; retrying on the next reload');
        }
      }
    };
    const reconcile = () => {
      reconciling ??= doReconcile().finally(() => (reconciling = undefined));
      return reconciling;
    };

    await models.refresh();
    if (ownModels) models.start(settings.reloadIntervalMs);
    await reconcile();
    timer = setInterval(
      () => void reconcile().catch((err: unknown) => logger.error({ err }, 'reconcile failed')),
      settings.reloadIntervalMs
    );
    timer.unref();
    logger.info(
      { nats: redactSecrets(config.nats.url), environment: models.environment, streams, models: [...consumers.keys()] },
      'stream inference running'
    );

    return {
      stats,
      names,
      settings,
      models,
      consuming: () => [...consumers.keys()],
      ping: () => nc.flush(),
      async refresh() {
        await models.refresh();
        await reconcile();
      },
      stop() {
        stopping ??= (async () => {
          clearInterval(timer);
          await reconciling;
          await Promise.all([...consumers.values()].map((c) => c.drain()));
          advisories?.unsubscribe();
          if (ownModels) await models.stop();
          await revocations.close();
          if (!nc.isClosed()) await nc.drain();
        })();
        return stopping;
      },
      async abort() {
        shared.aborted = true;
        clearInterval(timer);
        if (!nc.isClosed()) await nc.close();
        if (ownModels) await models.stop();
        await revocations.close();
      },
    };
  } catch (err) {
    clearInterval(timer);
    await revocations.close();
    if (ownModels) await models.stop();
    await nc.close();
    throw err;
  }
}
