import { createHash, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import rateLimit from '@fastify/rate-limit';
import Fastify, { LogController } from 'fastify';
import type {
  FastifyBaseLogger,
  FastifyError,
  FastifyInstance,
  FastifyReply,
  FastifyRequest,
  HookHandlerDoneFunction,
} from 'fastify';
import type { ArtifactStore } from '../lib/artifacts/index.js';
import { grants } from '../lib/auth/tokens.js';
import type { Principal, Role } from '../lib/auth/tokens.js';
import { ConfigError } from '../lib/config/index.js';
import type { CairnConfig } from '../lib/config/index.js';
import type { Pool } from '../lib/db/pool.js';
import type { Table } from '../lib/data/table.js';
import type { Logger } from '../lib/logging/logger.js';
import { FeedThread } from '../lib/monitoring/feed-thread.js';
import type { Prediction } from '../lib/scoring/scorer.js';
import { ScoringInputError } from '../lib/scoring/scorer.js';
import { TokenCache } from './auth.js';
import { watchRevocations } from '../lib/auth/revocations.js';
import { PackageTrust } from '../lib/signing/packages.js';
import { durationMs } from '../lib/config/duration.js';
import { storeFeedback } from './feedback.js';
import { createServingMetrics } from './metrics.js';
import type { ServingMetrics } from './metrics.js';
import { DependencyWatch, objectStoreCheck, postgresCheck } from '../lib/health/watch.js';
import { ModelSet } from './model-set.js';
import type { LoadedModel } from './model-set.js';
import {
  boundedError,
  HttpError,
  parseClientJson,
  parseFeedbackBody,
  parsePredictBody,
  RefusedJsonError,
} from './requests.js';

export interface ServerDeps {
  db: Pool;
  store: ArtifactStore;
  logger: Logger;
  config: Pick<CairnConfig, 'serving' | 'database' | 'signing'>;
  /** Names this server in the monitoring feed. @default `<hostname>:<pid>` */
  server?: string;
}

export interface Server {
  app: FastifyInstance;
  models: ModelSet;
  /** The monitoring feed, aggregated and written by a thread of its own. */
  feed: FeedThread;
  metrics: ServingMetrics;
  tokens: TokenCache;
  /** Stops polling, lets in-flight requests finish, closes the listener and writes the rest of the feed. */
  close(): Promise<void>;
}

/** One predicted row as answered: its prediction id, the version that made it and the prediction. */
export type AnsweredPrediction = { id: string; version: number } & Prediction;

export interface PredictResponse {
  model: string;
  predictions: AnsweredPrediction[];
}

/** A predict request on its way: what the response hook hands to the metrics and the feed. */
interface InFlight {
  loaded: LoadedModel;
  /** The rows as sent: the prediction log keeps a sample of them. */
  rows: unknown[];
  table: Table | undefined;
  /** Set once the outputs are known to be finite: the request was answered. */
  raw: Float64Array | undefined;
  /** Each row's prediction id. */
  ids: string[] | undefined;
}

/**
 * Requests carry their predict state (`cairnState`, declared on every request so they keep one shape): a side table
 * keyed by request kept every request's state alive past young-generation collections.
 */
type PredictRequest = FastifyRequest<{ Params: { name: string } }> & { cairnState: InFlight | null };

/**
 * The 200 answer of predict, for fastify's compiled serializer (about half the time of JSON.stringify on it).
 * Properties in the order the handler builds them; anything else a prediction carries is serialized as JSON.stringify
 * would.
 */
const PREDICT_RESPONSE = {
  type: 'object',
  properties: {
    model: { type: 'string' },
    predictions: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          id: { type: 'string' },
          version: { type: 'integer' },
          value: { type: 'number' },
          label: { type: 'string' },
          probability: { type: 'number' },
          probabilities: { type: 'object', additionalProperties: { type: 'number' } },
        },
        additionalProperties: true,
      },
    },
  },
  additionalProperties: true,
} as const;

/** The role a model's endpoints need: `predict:<model>` (or `predict:*`). */
const predictRole = (request: FastifyRequest): Role => `predict:${(request.params as { name: string }).name}`;
const UNKNOWN_MODEL = '(unknown)';

/**
 * The online inference server (not listening yet: see `startServer`).
 *
 * - `POST /v1/models/:name/predict` `{"rows": [{...}, ...]}` or `{"row": {...}}`, optional `"key"` (or header
 *   `x-cairn-key`) for sticky canary routing → `{ model, predictions: [{ id, version, ...prediction }] }`. One request
 *   is served by one version. Scoring runs inline on the event loop: a model scores thousands of rows in a few
 *   milliseconds, and `serving.maxBodyBytes` bounds a request (bulk scoring belongs to `batchInference`).
 * - `POST /v1/models/:name/feedback` `{"feedback": [{"predictionId": "...", "label": ...}]}` → stored labels and
 *   unknown ids (200 all stored, 207 some unknown, 404 none known).
 * - `GET /v1/models`: what this server serves. These three need a bearer token with role `predict` or `admin`.
 * - `GET /metrics` (Prometheus), `/healthz` (process up), `/readyz` (deployments loaded, database and object store reachable).
 *
 * Every refusal is JSON `{ error, ...details }`; problems with rows carry `problems: [{ field, row, message }]`.
 */
export async function buildServer(deps: ServerDeps): Promise<Server> {
  const { db, logger, config } = deps;
  const serving = config.serving;
  const log = logger.child({ component: 'serving' });
  if (!serving.tlsCertFile !== !serving.tlsKeyFile)
    throw new ConfigError('serving.tlsCertFile and serving.tlsKeyFile go together: set both, or neither');
  const tls =
    serving.tlsCertFile && serving.tlsKeyFile
      ? { cert: readFileSync(serving.tlsCertFile), key: readFileSync(serving.tlsKeyFile) }
      : undefined;
  // Only the public keys: a server verifies packages, it never reads the signing key.
  const trust = new PackageTrust(config.signing.trustDir!);
  const models = new ModelSet({ db, store: deps.store, logger: log, trust }, serving.environment, 'online');
  // Aggregated and written on a thread of its own: the request path only appends numbers to a batch.
  const feed = new FeedThread({
    database: config.database,
    environment: serving.environment,
    sampleRate: serving.sampleRate,
    flushIntervalMs: durationMs(serving.flushInterval),
    ...(deps.server ? { server: deps.server } : {}),
    onFlushError: (err) => {
      metrics.feedFlushErrors.inc();
      log.warn({ err }, 'monitoring feed write failed; its data is kept for the next flush');
    },
    onRejectedSample: (err, id) =>
      log.warn({ err: err.message, prediction: id }, 'sampled row refused by PostgreSQL; dropped'),
    onThreadError: (err) =>
      log.error({ err }, 'the monitoring feed thread stopped; what it had not written is lost; starting it again'),
  });
  const metrics = createServingMetrics({
    routes: () => models.models(),
    droppedSamples: () => feed.droppedSamples,
    rejectedSamples: () => feed.rejectedSamples,
  });
  const tokens = new TokenCache(db);
  // A revoked token is refused from the moment PostgreSQL announces it (LISTEN/NOTIFY), on every server.
  const revocations = watchRevocations(deps.config, (tokenId) => tokens.forget(tokenId), log);

  const app = Fastify({
    loggerInstance: log as FastifyBaseLogger,
    // Request lines would dominate the log under load: metrics count requests, errors are logged where they happen.
    logController: new LogController({ disableRequestLogging: true }),
    // No child logger per request (a pino child, with redaction, costs more than scoring a row): the few lines a
    // request logs name it with `reqId` themselves.
    childLoggerFactory: (logger) => logger,
    bodyLimit: serving.maxBodyBytes,
    ...(tls ? { https: tls } : {}),
  }) as unknown as FastifyInstance;
  if (serving.rateLimit > 0) {
    // Per token (its hash), else per address; a request over the limit gets 429 before any work is done.
    await app.register(rateLimit, {
      max: serving.rateLimit,
      timeWindow: '1 minute',
      keyGenerator: (request) => {
        const bearer = /^Bearer\s+(\S+)/i.exec(request.headers.authorization ?? '')?.[1];
        return bearer ? `token:${createHash('sha256').update(bearer).digest('hex')}` : `address:${request.ip}`;
      },
      allowList: (request) => request.url === '/healthz' || request.url === '/readyz',
      errorResponseBuilder: (_request, context) =>
        new HttpError(
          429,
          `rate limit: at most ${context.max} requests a minute per token (serving.rateLimit); retry in ${context.after}`
        ),
    });
  }
  app.decorateRequest('cairnState', null);

  // JSON.parse's own message names the problem and its position (fastify's default parser hides it).
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    const text = body as string;
    if (text.trim() === '') {
      done(new HttpError(400, 'the request body is empty: expected JSON like {"rows": [{...}]}'), undefined);
      return;
    }
    try {
      done(null, parseClientJson(text));
    } catch (err) {
      const refused = err instanceof RefusedJsonError;
      done(new HttpError(400, refused ? err.message : `malformed JSON: ${(err as Error).message}`), undefined);
    }
  });

  app.setErrorHandler((err: FastifyError, request, reply) => {
    if (err instanceof HttpError) {
      if (err.statusCode >= 500) {
        request.log.error(
          { reqId: request.id, ...(err.cause ? { err: err.cause } : {}), ...err.details, url: request.url },
          err.message
        );
      }
      if (err.statusCode === 401) void reply.header('www-authenticate', 'Bearer');
      return reply.code(err.statusCode).send(boundedError({ error: err.message, ...err.details }));
    }
    switch (err.code) {
      case 'FST_ERR_CTP_BODY_TOO_LARGE':
        return reply.code(413).send({
          error: `the request body is larger than ${serving.maxBodyBytes} bytes (serving.maxBodyBytes): send fewer rows per request`,
        });
      case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
        return reply.code(415).send({
          error: `unsupported Content-Type ${JSON.stringify(request.headers['content-type'] ?? '(none)')}: send the body as JSON with Content-Type: application/json`,
        });
    }
    if (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500) {
      return reply.code(err.statusCode).send(boundedError({ error: err.message }));
    }
    request.log.error({ reqId: request.id, err, url: request.url }, 'request failed');
    return reply.code(500).send({ error: `internal error (request ${request.id}); the server log has the details` });
  });

  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send({
      error: `no route ${request.method} ${request.url.split('?')[0]} (routes: POST /v1/models/:name/predict, POST /v1/models/:name/feedback, GET /v1/models, GET /metrics, GET /healthz, GET /readyz)`,
    })
  );

  /** Why `principal` may not do what needs `role`, or undefined when it may (any live token, without a role). */
  const refusal = (principal: Principal | undefined, role: Role | undefined): HttpError | undefined => {
    if (!principal) return new HttpError(401, 'unknown, expired or revoked token');
    if (role === undefined || grants(principal.roles, role)) return undefined;
    return new HttpError(
      403,
      `${principal.principal} may not do this: it needs the role ${role} (has: ${principal.roles.join(', ') || 'none'})`
    );
  };

  // A callback hook, not an async one: a token the cache knows is checked without a promise. The principal is kept
  // on the request for handlers that narrow what they answer (GET /v1/models).
  const authorize =
    (role: (request: FastifyRequest) => Role | undefined) =>
    (request: FastifyRequest, _reply: FastifyReply, done: HookHandlerDoneFunction) => {
      const header = request.headers.authorization;
      if (!header)
        return done(new HttpError(401, 'missing bearer token: send the header Authorization: Bearer <token>'));
      const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
      if (!match) return done(new HttpError(401, 'the Authorization header must read "Bearer <token>"'));
      const decide = (principal: Principal | undefined) => {
        principals.set(request, principal);
        done(refusal(principal, role(request)));
      };
      const known = tokens.check(match[1]!);
      if (!(known instanceof Promise)) return decide(known.principal);
      known.then(decide, (err: unknown) =>
        done(new HttpError(503, 'cannot check the token: the database is unreachable; retry shortly', {}, err))
      );
    };
  const principals = new WeakMap<FastifyRequest, Principal | undefined>();

  const servedNames = () =>
    models
      .models()
      .map((r) => r.model)
      .sort();

  const routeOf = (name: string) => {
    const route = models.get(name);
    if (route) return route;
    const known = servedNames();
    throw new HttpError(
      404,
      `model ${JSON.stringify(name)} is not served in ${serving.environment} (served: ${known.join(', ') || 'none'})`,
      { models: known }
    );
  };

  app.post<{ Params: { name: string } }>(
    '/v1/models/:name/predict',
    {
      schema: { response: { 200: PREDICT_RESPONSE } },
      onRequest: authorize(predictRole),
      onResponse: (request, reply, done) => {
        recordPredict(request as PredictRequest, reply);
        done();
      },
    },
    // Synchronous for models scored in this thread (fastify sends what it returns, with no promise in between); a
    // promise only for ONNX graphs.
    (request): PredictResponse | Promise<PredictResponse> => {
      const { name } = request.params;
      const route = routeOf(name);
      const { rows, key } = parsePredictBody(request.body);
      const header = request.headers['x-cairn-key'];
      // Picked once, before scoring: a deployment change cannot swap the model mid-request.
      const loaded = models.pick(route, key ?? (Array.isArray(header) ? header[0] : header));
      const state: InFlight = { loaded, rows, table: undefined, raw: undefined, ids: undefined };
      (request as PredictRequest).cairnState = state;
      const { scorer, version } = loaded;

      let table: Table;
      try {
        table = scorer.parseRows(rows);
      } catch (err) {
        if (!(err instanceof ScoringInputError)) throw err;
        throw new HttpError(400, `the rows do not fit model ${name}'s input contract: ${err.message}`, {
          problems: withValues(err.problems, rows),
        });
      }
      state.table = table;

      const failed = (err: unknown) =>
        new HttpError(500, `model ${name} v${version} failed to score the rows; the server log has the error`, {}, err);
      if (!scorer.scoreNow)
        return scorer.score(table).then(answer, (err: unknown) => {
          throw failed(err);
        });
      let raw: Float64Array;
      try {
        raw = scorer.scoreNow(table);
      } catch (err) {
        throw failed(err);
      }
      return answer(raw);

      function answer(raw: Float64Array): PredictResponse {
        const n = table.rowCount;
        const width = raw.length / n;
        for (let i = 0; i < raw.length; i++) {
          const v = raw[i]!;
          if (v - v !== 0) {
            const row = Math.floor(i / width);
            throw new HttpError(500, `model ${name} v${version} gave a non-finite output for row ${row}`, { row });
          }
        }

        // A sampled row's prediction is made again by the feed (`prediction`): only ids and rows are kept here.
        const ids = new Array<string>(n);
        const predictions = new Array<AnsweredPrediction>(n);
        for (let i = 0; i < n; i++) {
          const id = randomUUID();
          ids[i] = id;
          predictions[i] = { id, version, ...scorer.prediction(raw, i) };
        }
        state.raw = raw;
        state.ids = ids;
        return { model: name, predictions };
      }
    }
  );

  /** After the answer is sent: metrics for every predict request, the feed for those a version answered. */
  function recordPredict(request: PredictRequest, reply: FastifyReply): void {
    const state = request.cairnState;
    request.cairnState = null;
    const status = reply.statusCode;
    if (!state) {
      const name = request.params.name ?? '';
      metrics.requests.inc({ model: models.get(name) ? name : UNKNOWN_MODEL, version: '', status });
      return;
    }
    const { loaded, table, raw } = state;
    const latencyMs = reply.elapsedTime;
    const ok = status === 200 && table !== undefined && raw !== undefined;
    metrics.of(loaded).request(status, latencyMs / 1000, ok ? table.rowCount : 0);
    if (!table || (status !== 200 && status < 500)) return;
    if (ok) feed.record(loaded, latencyMs, table, raw, state.ids, state.rows);
    else feed.record(loaded, latencyMs, table);
  }

  app.post<{ Params: { name: string } }>(
    '/v1/models/:name/feedback',
    { onRequest: authorize(predictRole) },
    async (request, reply) => {
      const { name } = request.params;
      const body = parseFeedbackBody(request.body);
      // Sampled predictions wait for the next flush; write them first so feedback can refer to them at once.
      await feed.flushSamplesFor(body.feedback.map((f) => f.predictionId));
      const classesOf = (version: number) => {
        const route = models.get(name);
        const loaded = [route?.stable, route?.canary].find((m) => m?.version === version);
        return loaded?.scorer.pkg.classes;
      };
      const result = await storeFeedback(db, { model: name, environment: serving.environment }, body, classesOf);
      if (result.stored)
        metrics.feedback.inc({ model: models.get(name) ? name : UNKNOWN_MODEL, outcome: 'stored' }, result.stored);
      if (result.unknown.length === 0) return result;
      metrics.feedback.inc(
        { model: models.get(name) ? name : UNKNOWN_MODEL, outcome: 'unknown' },
        result.unknown.length
      );
      const error =
        `${result.unknown.length} prediction id(s) unknown for model ${name} in ${serving.environment}: ` +
        `the prediction log keeps a sample of predictions (serving.sampleRate = ${serving.sampleRate}) and feedback ` +
        `can refer only to those`;
      return reply.code(result.stored ? 207 : 404).send({ error, ...result });
    }
  );

  // Any live token may ask; it is told about the models it may call.
  app.get('/v1/models', { onRequest: authorize(() => undefined) }, async (request) => ({
    environment: serving.environment,
    models: models
      .models()
      .filter((r) => grants(principals.get(request)?.roles ?? [], `predict:${r.model}`))
      .sort((a, b) => a.model.localeCompare(b.model))
      .map((r) => ({
        model: r.model,
        stable: r.stable.version,
        canary: r.canary?.version ?? null,
        canaryWeight: r.canaryWeight,
        revision: r.revision,
      })),
  }));

  // Metrics name models, versions and traffic: any live token may read them (Prometheus: `authorization:
  // credentials_file`), anonymous callers may not.
  app.get('/metrics', { onRequest: authorize(() => undefined) }, async (_request, reply) =>
    reply.type(metrics.registry.contentType).send(await metrics.registry.metrics())
  );

  app.get('/healthz', async () => ({ ok: true }));

  // The database and the store, checked every 2 s: one log line per outage and per recovery, and /readyz says 503
  // meanwhile (the loaded models keep serving).
  const watch = new DependencyWatch({ postgres: postgresCheck(db), 'object-store': objectStoreCheck(deps.store) }, log);
  await watch.checkNow();
  watch.start(2000);

  app.get('/readyz', async (_request, reply) => {
    const problems = [...(models.ready ? [] : ['deployments not loaded yet']), ...watch.problems()];
    if (problems.length) return reply.code(503).send({ ready: false, problems });
    return { ready: true, environment: serving.environment, models: models.models().length };
  });

  try {
    await models.refresh();
  } catch (err) {
    log.error(
      { err },
      'deployments could not be read; retrying every reload interval (/readyz answers 503 until then)'
    );
  }
  models.start(durationMs(serving.reloadInterval));

  let closing: Promise<void> | undefined;
  return {
    app,
    models,
    feed,
    metrics,
    tokens,
    close: () =>
      (closing ??= (async () => {
        watch.stop();
        await revocations.close();
        await models.stop();
        await app.close();
        try {
          await feed.close();
        } catch (err) {
          metrics.feedFlushErrors.inc();
          log.error({ err }, 'the last monitoring feed write failed; its data is lost');
        }
      })()),
  };
}

/** Builds the server and listens on serving.host:port; `address` is where it listens (port 0 picks a free one). */
export async function startServer(deps: ServerDeps): Promise<Server & { address: string; port: number }> {
  const server = await buildServer(deps);
  try {
    const address = await server.app.listen({ host: deps.config.serving.host, port: deps.config.serving.port });
    const bound = server.app.server.address();
    return { ...server, address, port: typeof bound === 'object' && bound ? bound.port : deps.config.serving.port };
  } catch (err) {
    await server.close().catch(() => undefined);
    throw err;
  }
}

/** Problems with the offending value, when the row and field name one in the request. */
function withValues(problems: ScoringInputError['problems'], rows: unknown[]) {
  return problems.map((p) => {
    if (p.row === undefined) return p;
    const row = rows[p.row];
    if (typeof row !== 'object' || row === null || !Object.hasOwn(row, p.field)) return p;
    return { ...p, value: (row as Record<string, unknown>)[p.field] };
  });
}
