import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import rateLimit from '@fastify/rate-limit';
import Fastify, { LogController } from 'fastify';
import type { Tracer } from '@opentelemetry/api';
import { traceRequests } from '../lib/telemetry/tracing.js';
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
import type { Logger } from '../lib/logging/logger.js';
import { FeedThread } from '../lib/monitoring/feed-thread.js';
import { TokenCache } from './auth.js';
import { watchRevocations } from '../lib/auth/revocations.js';
import { PackageTrust } from '../lib/signing/packages.js';
import { durationMs } from '../lib/config/duration.js';
import { storeFeedback } from './feedback.js';
import { createServingMetrics } from './metrics.js';
import type { ServingMetrics } from './metrics.js';
import { DependencyWatch, objectStoreCheck, postgresCheck } from '../lib/health/watch.js';
import { ModelSet } from './model-set.js';
import { onlineFeatureLookup } from '../lib/features/store/lookup.js';
import { onlineStoreOf } from '../lib/features/store/online.js';
import {
  errorBody,
  fastPredict,
  newPredictState,
  parseBody,
  PredictGrants,
  predictResponse,
  Predictor,
} from './predict.js';
import type { PredictResponse, PredictState } from './predict.js';
import { IndexSearch } from './indexes.js';
import { BatchedInsert } from '../lib/db/batched-insert.js';
import { insertSearches } from '../lib/embeddings/monitor.js';
import { insertRenders } from '../lib/prompts/monitor.js';
import { PromptRenderer } from './prompts.js';
import { boundedError, HttpError, parseFeedbackBody } from './requests.js';

export type { AnsweredPrediction, PredictResponse } from './predict.js';

export interface ServerDeps {
  db: Pool;
  store: ArtifactStore;
  logger: Logger;
  config: Pick<CairnConfig, 'serving' | 'database' | 'signing' | 'features'>;
  /** Names this server in the monitoring feed. @default `<hostname>:<pid>` */
  server?: string;
  /** Traces every request (a server span each) when `telemetry.otlpEndpoint` is set. */
  tracer?: Tracer;
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

/**
 * Requests carry their predict state and principal (declared on every request so they keep one shape): a side
 * table keyed by request kept every request's state alive past young-generation collections.
 */
type CairnRequest = FastifyRequest & { cairnState: PredictState | null; cairnPrincipal: Principal | undefined };
type PredictRequest = FastifyRequest<{ Params: { name: string } }> & CairnRequest;

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

  const features = onlineFeatureLookup(onlineStoreOf(config), log);
  const predictor = new Predictor(models, metrics, feed, serving.environment, features);
  let open = true;
  // Without a rate limit (a fastify hook), the common predict request skips fastify: see `fastPredict`.
  const fast =
    serving.rateLimit > 0
      ? undefined
      : fastPredict({
          predictor,
          tokens,
          models,
          grants: new PredictGrants(),
          bodyLimit: serving.maxBodyBytes,
          log,
          open: () => open,
        });
  const app = Fastify({
    loggerInstance: log as FastifyBaseLogger,
    // Request lines would dominate the log under load: metrics count requests, errors are logged where they happen.
    logController: new LogController({ disableRequestLogging: true }),
    // No child logger per request (a pino child, with redaction, costs more than scoring a row): the few lines a
    // request logs name it with `reqId` themselves.
    childLoggerFactory: (logger) => logger,
    bodyLimit: serving.maxBodyBytes,
    // Made by the factory below; fastify reads it for the addresses it reports.
    ...(tls ? { https: tls } : {}),
    // The node:http(s) server fastify would make, with the predict fast path in front of fastify's handler.
    serverFactory: (handler, options) => {
      const untraced = fast
        ? (req: IncomingMessage, res: ServerResponse) => {
            if (!fast(req, res)) handler(req, res);
          }
        : handler;
      const listener = deps.tracer ? traceRequests(deps.tracer, untraced) : untraced;
      const server = tls ? createHttpsServer(tls, listener) : createHttpServer(listener);
      // Fastify's defaults, as it sets them on a server it makes.
      const timeouts = options as unknown as {
        keepAliveTimeout: number;
        requestTimeout: number;
        connectionTimeout: number;
      };
      server.keepAliveTimeout = timeouts.keepAliveTimeout;
      server.requestTimeout = timeouts.requestTimeout;
      server.setTimeout(timeouts.connectionTimeout);
      return server;
    },
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
  app.decorateRequest('cairnPrincipal', undefined);

  // JSON.parse's own message names the problem and its position (fastify's default parser hides it).
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    try {
      done(null, parseBody(body as string));
    } catch (err) {
      done(err as HttpError, undefined);
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
      return reply.code(err.statusCode).send(errorBody(err));
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
      error: `no route ${request.method} ${request.url.split('?')[0]} (routes: POST /v1/models/:name/predict, POST /v1/models/:name/feedback, POST /v1/prompts/:name/render, POST /v1/indexes/:name/search, GET /v1/models, GET /metrics, GET /healthz, GET /readyz)`,
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
      const known = tokens.check(match[1]!);
      if (!(known instanceof Promise)) {
        (request as CairnRequest).cairnPrincipal = known.principal;
        return done(refusal(known.principal, role(request)));
      }
      known.then(
        (principal) => {
          (request as CairnRequest).cairnPrincipal = principal;
          done(refusal(principal, role(request)));
        },
        (err: unknown) =>
          done(new HttpError(503, 'cannot check the token: the database is unreachable; retry shortly', {}, err))
      );
    };

  app.post<{ Params: { name: string } }>(
    '/v1/models/:name/predict',
    {
      schema: { response: { 200: PREDICT_RESPONSE } },
      onRequest: authorize(predictRole),
      onResponse: (request, reply, done) => {
        const state = (request as PredictRequest).cairnState;
        (request as PredictRequest).cairnState = null;
        predictor.record(state, (request as PredictRequest).params.name ?? '', reply.statusCode, reply.elapsedTime);
        done();
      },
    },
    // Synchronous for models scored in this thread (fastify sends what it returns, with no promise in between); a
    // promise only for ONNX graphs.
    (request): PredictResponse | Promise<PredictResponse> => {
      const { name } = request.params;
      const state = newPredictState();
      (request as PredictRequest).cairnState = state;
      const scored = predictor.score(name, request.body, request.headers['x-cairn-key'], state);
      return scored ? scored.then(() => predictResponse(name, state)) : predictResponse(name, state);
    }
  );

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

  // Renders and searches are logged for the alias monitors (monitorPrompt, monitorIndex), off the request path.
  const logError = (what: string) => (err: unknown) =>
    log.warn({ err }, `${what} log write failed; its rows are kept for the next flush`);
  const renderLog = new BatchedInsert(db, durationMs(serving.flushInterval), insertRenders, logError('prompt render'));
  const searchLog = new BatchedInsert(db, durationMs(serving.flushInterval), insertSearches, logError('index search'));
  const prompts = new PromptRenderer(db, durationMs(serving.reloadInterval), (prompt, version, outcome) => {
    metrics.promptRenders.inc({ prompt, version: version === undefined ? '-' : String(version), outcome });
    if (version !== undefined && outcome !== 'unknown') renderLog.record({ name: prompt, version, outcome });
  });
  app.post<{ Params: { name: string } }>(
    '/v1/prompts/:name/render',
    { onRequest: authorize((request) => `render:${(request.params as { name: string }).name}`) },
    (request) => prompts.render(request.params.name, request.body, request.headers['x-cairn-key'])
  );

  const indexes = new IndexSearch(db, deps.store, durationMs(serving.reloadInterval), (index, version, outcome, a) => {
    metrics.indexSearches.inc({ index, version: version === undefined ? '-' : String(version), outcome });
    if (!a || version === undefined || (outcome !== 'found' && outcome !== 'empty')) return;
    metrics.indexSearchSeconds.observe({ index }, a.seconds);
    searchLog.record({
      name: index,
      version,
      outcome,
      seconds: a.seconds,
      ...(Math.random() < serving.sampleRate ? { embedding: a.embedding } : {}),
    });
  });
  app.post<{ Params: { name: string } }>(
    '/v1/indexes/:name/search',
    { onRequest: authorize((request) => `search:${(request.params as { name: string }).name}`) },
    (request) => indexes.search(request.params.name, request.body, request.headers['x-cairn-key'])
  );

  app.get('/v1/models', { onRequest: authorize(() => undefined) }, async (request) => ({
    environment: serving.environment,
    models: models
      .models()
      .filter((r) => grants((request as CairnRequest).cairnPrincipal?.roles ?? [], `predict:${r.model}`))
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
        open = false;
        watch.stop();
        await revocations.close();
        await models.stop();
        await app.close();
        await features.close();
        await Promise.all([renderLog.close(), searchLog.close()]);
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
