import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { grants } from '../lib/auth/tokens.js';
import type { Principal } from '../lib/auth/tokens.js';
import type { Table } from '../lib/data/table.js';
import type { Logger } from '../lib/logging/logger.js';
import type { FeedThread } from '../lib/monitoring/feed-thread.js';
import type { Prediction } from '../lib/scoring/scorer.js';
import { FeatureLookupError } from '../lib/features/store/lookup.js';
import type { PackagedFeatureView, ViewLookup } from '../lib/features/store/lookup.js';
import { ScoringInputError } from '../lib/scoring/scorer.js';
import type { TokenCache, TokenMemo } from './auth.js';
import type { ServingMetrics } from './metrics.js';
import type { LoadedModel, ModelRoute, ModelSet } from './model-set.js';
import { boundedError, HttpError, parseClientJson, parsePredictBody, RefusedJsonError } from './requests.js';

/**
 * One predicted row as answered: its prediction id, the version that made it and the prediction; for a request by
 * entity key, how each feature view's values were found.
 */
export type AnsweredPrediction = { id: string; version: number; features?: Record<string, ViewLookup> } & Prediction;

export interface PredictResponse {
  model: string;
  predictions: AnsweredPrediction[];
}

/** A predict request on its way: filled in as it goes, read by `record` once it is answered. */
export interface PredictState {
  loaded: LoadedModel | undefined;
  /** The rows as sent: the prediction log keeps a sample of them. */
  rows: unknown[] | undefined;
  table: Table | undefined;
  /** Set once the outputs are known to be finite: the rows were answered. */
  raw: Float64Array | undefined;
  /** Each row's prediction id. */
  ids: string[] | undefined;
  /** How each row's feature view values were found, for a request by entity key. */
  lookups: Record<string, ViewLookup>[] | undefined;
}

export const newPredictState = (): PredictState => ({
  loaded: undefined,
  rows: undefined,
  table: undefined,
  raw: undefined,
  ids: undefined,
  lookups: undefined,
});

/** The online store as the predictor uses it: each row's feature view values, added to the rows. */
export interface FeatureLookup {
  lookup(
    views: readonly PackagedFeatureView[],
    rows: Record<string, unknown>[],
    now: number
  ): Promise<Record<string, ViewLookup>[]>;
}

const UNKNOWN_MODEL = '(unknown)';

/**
 * What `POST /v1/models/:name/predict` does, whichever way the request came in (fastify's route, or the server's
 * fast path for the common request: see `fastPredict`): route, body, contract, scoring, prediction ids; then the
 * metrics and the monitoring feed.
 */
export class Predictor {
  constructor(
    private readonly models: ModelSet,
    private readonly metrics: ServingMetrics,
    private readonly feed: FeedThread,
    private readonly environment: string,
    private readonly features?: FeatureLookup
  ) {}

  /** The route of a served model, or 404 naming those served. */
  route(name: string): ModelRoute {
    const route = this.models.get(name);
    if (route) return route;
    const known = this.models
      .models()
      .map((r) => r.model)
      .sort();
    throw new HttpError(
      404,
      `model ${JSON.stringify(name)} is not served in ${this.environment} (served: ${known.join(', ') || 'none'})`,
      { models: known }
    );
  }

  /**
   * Scores a parsed predict body for model `name`; `state` says how far it got. Synchronous for models scored in
   * this thread (undefined: answered, `state.raw` and `state.ids` set), a promise only for ONNX graphs. Throws
   * HttpError for what the caller got wrong (4xx) and for a model that failed (500).
   */
  score(
    name: string,
    body: unknown,
    keyHeader: string | string[] | undefined,
    state: PredictState
  ): void | Promise<void> {
    const route = this.route(name);
    const { rows, key, entities } = parsePredictBody(body);
    // Picked once, before scoring: a deployment change cannot swap the model mid-request.
    const loaded = this.models.pick(route, key ?? (Array.isArray(keyHeader) ? keyHeader[0] : keyHeader));
    state.loaded = loaded;
    if (entities)
      return this.lookUp(name, loaded, rows, entities).then((merged) => this.scoreRows(name, merged, state));
    return this.scoreRows(name, rows, state);
  }

  /** The rows with their entity keys and their feature view values, looked up in the online store. */
  private async lookUp(
    name: string,
    loaded: LoadedModel,
    rows: unknown[],
    entities: Record<string, unknown>[]
  ): Promise<{ rows: Record<string, unknown>[]; lookups: Record<string, ViewLookup>[] }> {
    const views = loaded.scorer.pkg.featureViews;
    if (!views?.length)
      throw new HttpError(400, `model ${name} v${loaded.version} uses no feature views: send its inputs as "rows"`, {
        problems: [{ field: 'entities', message: 'not used by this model' }],
      });
    if (!this.features) throw new HttpError(503, 'this server has no online feature store');
    const merged = rows.map((row, i) => ({ ...(row as Record<string, unknown>), ...entities[i] }));
    try {
      return { rows: merged, lookups: await this.features.lookup(views, merged, Date.now()) };
    } catch (err) {
      if (err instanceof FeatureLookupError)
        throw new HttpError(err.status, `model ${name}: ${err.message}`, { problems: err.problems });
      throw new HttpError(503, `the online feature store is unreachable: ${(err as Error).message}`, {}, err);
    }
  }

  private scoreRows(
    name: string,
    input: unknown[] | { rows: Record<string, unknown>[]; lookups: Record<string, ViewLookup>[] },
    state: PredictState
  ): void | Promise<void> {
    const rows = Array.isArray(input) ? input : input.rows;
    if (!Array.isArray(input)) state.lookups = input.lookups;
    state.rows = rows;
    const { scorer } = state.loaded!;
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
    if (!scorer.scoreNow) {
      return scorer.score(table).then(
        (raw) => answered(state, raw),
        (err: unknown) => {
          throw scoringFailed(state, err);
        }
      );
    }
    let raw: Float64Array;
    try {
      raw = scorer.scoreNow(table);
    } catch (err) {
      throw scoringFailed(state, err);
    }
    answered(state, raw);
  }

  /** After the answer: metrics for every predict request, the feed for those a version answered or failed. */
  record(state: PredictState | null, name: string, status: number, latencyMs: number): void {
    const loaded = state?.loaded;
    if (!loaded) {
      this.metrics.requests.inc({ model: this.models.get(name) ? name : UNKNOWN_MODEL, version: '', status });
      return;
    }
    const { table, raw } = state;
    const ok = status === 200 && table !== undefined && raw !== undefined;
    this.metrics.of(loaded).request(status, latencyMs / 1000, ok ? table.rowCount : 0);
    if (!table || (status !== 200 && status < 500)) return;
    if (ok) this.feed.record(loaded, latencyMs, table, raw, state.ids, state.rows);
    else this.feed.record(loaded, latencyMs, table);
  }
}

function scoringFailed(state: PredictState, err: unknown): HttpError {
  const { model, version } = state.loaded!;
  return new HttpError(
    500,
    `model ${model} v${version} failed to score the rows; the server log has the error`,
    {},
    err
  );
}

/** Checks the outputs are finite and gives each row its prediction id. */
function answered(state: PredictState, raw: Float64Array): void {
  const n = state.table!.rowCount;
  const width = raw.length / n;
  for (let i = 0; i < raw.length; i++) {
    const v = raw[i]!;
    if (v - v !== 0) {
      const row = Math.floor(i / width);
      const { model, version } = state.loaded!;
      throw new HttpError(500, `model ${model} v${version} gave a non-finite output for row ${row}`, { row });
    }
  }
  const ids = new Array<string>(n);
  for (let i = 0; i < n; i++) ids[i] = randomUUID();
  state.raw = raw;
  state.ids = ids;
}

/** The answer of a scored request, as objects (fastify serializes them with the route's schema). */
export function predictResponse(name: string, state: PredictState): PredictResponse {
  const { scorer, version } = state.loaded!;
  const { raw, ids } = state;
  const predictions = new Array<AnsweredPrediction>(ids!.length);
  for (let i = 0; i < predictions.length; i++)
    predictions[i] = {
      id: ids![i]!,
      version,
      ...scorer.prediction(raw!, i),
      ...(state.lookups ? { features: state.lookups[i]! } : {}),
    };
  return { model: name, predictions };
}

/**
 * The same answer as JSON text, written directly: what `predictResponse` serializes to, property for property (a
 * prediction id is a UUID and needs no escaping; the prediction is JSON.stringify's).
 */
export function predictJson(name: string, state: PredictState): string {
  const { scorer, version } = state.loaded!;
  const { raw, ids } = state;
  let out = `{"model":${JSON.stringify(name)},"predictions":[`;
  for (let i = 0; i < ids!.length; i++) {
    const prediction = JSON.stringify(scorer.prediction(raw!, i));
    out += `${i ? ',' : ''}{"id":"${ids![i]}","version":${version}${prediction.length > 2 ? ',' : ''}${prediction.slice(1, -1)}`;
    out += state.lookups ? `,"features":${JSON.stringify(state.lookups[i])}}` : '}';
  }
  return `${out}]}`;
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

/** The body of a refusal: `{ error, ...details }`, bounded. */
export function errorBody(err: HttpError): Record<string, unknown> {
  return boundedError({ error: err.message, ...err.details });
}

/** The 400 of a body that is not JSON (or is JSON refused at the edge), as the JSON content-type parser says it. */
export function parseBody(text: string): unknown {
  if (text.trim() === '') throw new HttpError(400, 'the request body is empty: expected JSON like {"rows": [{...}]}');
  try {
    return parseClientJson(text);
  } catch (err) {
    const refused = err instanceof RefusedJsonError;
    throw new HttpError(400, refused ? err.message : `malformed JSON: ${(err as Error).message}`);
  }
}

/** Whether a principal holds `predict:<name>`, remembered per principal (a role check builds strings). */
export class PredictGrants {
  private readonly decided = new WeakMap<Principal, Map<string, boolean>>();

  allows(principal: Principal, name: string): boolean {
    let byName = this.decided.get(principal);
    if (!byName) this.decided.set(principal, (byName = new Map()));
    let ok = byName.get(name);
    if (ok === undefined) {
      ok = grants(principal.roles, `predict:${name}`);
      // Names are the caller's: a flood of made-up ones cannot grow this without bound.
      if (byName.size >= 1000) byName.clear();
      byName.set(name, ok);
    }
    return ok;
  }
}

export interface FastPredictDeps {
  predictor: Predictor;
  tokens: TokenCache;
  models: ModelSet;
  grants: PredictGrants;
  bodyLimit: number;
  log: Logger;
  /** False once the server is closing: every request then goes to fastify, which answers 503 while it drains. */
  open: () => boolean;
}

const PREFIX = '/v1/models/';
const SUFFIX = '/predict';
/** Model names the fast path takes as they are in the URL (anything else, e.g. percent-encoded, goes to fastify). */
const PLAIN_NAME = /^[\w.@-]+$/;
const JSON_TYPE = 'application/json; charset=utf-8';
/** The token a connection presented last (see `TokenCache.checkRemembered`), on the connection's socket. */
const TOKEN_MEMO = Symbol('cairn.tokenMemo');
type RememberingSocket = IncomingMessage['socket'] & { [TOKEN_MEMO]?: TokenMemo };

/**
 * The predict route's fast path, in front of fastify on the same node:http server. It takes a request only when
 * nothing about it can be refused before its body is read: POST to /v1/models/<served model>/predict, no query,
 * Content-Type application/json, a Content-Length within `serving.maxBodyBytes`, and a bearer token the cache
 * already knows that grants `predict:<model>`. Everything else, and everything while a rate limit is configured,
 * returns false and goes through fastify (routing, hooks, content-type parser, serializer), which answers it exactly
 * as before: the fast path answers with the same `Predictor`, the same JSON and the same refusals for what the
 * body gets wrong. Fastify's per-request work (request and reply objects, hook runners, a listener for the response's
 * end) was most of the server's cost over a bare node:http server.
 */
export function fastPredict(deps: FastPredictDeps): (req: IncomingMessage, res: ServerResponse) => boolean {
  const { predictor, tokens, models, grants, bodyLimit, log, open } = deps;
  let failures = 0;

  const respond = (
    res: ServerResponse,
    name: string,
    state: PredictState,
    start: number,
    status: number,
    body: string,
    headers?: string[]
  ): void => {
    const head = ['content-type', JSON_TYPE, 'content-length', String(Buffer.byteLength(body))];
    if (headers) head.push(...headers);
    res.writeHead(status, head);
    res.end(body);
    try {
      predictor.record(state, name, status, performance.now() - start);
    } catch (err) {
      // Answered already: a bug in the bookkeeping must not take the process down with it.
      log.error({ err, model: name }, 'recording a predict request failed');
    }
  };

  const fail = (res: ServerResponse, url: string, name: string, state: PredictState, start: number, err: unknown) => {
    const reqId = `fast-${++failures}`;
    if (err instanceof HttpError) {
      if (err.statusCode >= 500)
        log.error({ reqId, ...(err.cause ? { err: err.cause } : {}), ...err.details, url }, err.message);
      respond(
        res,
        name,
        state,
        start,
        err.statusCode,
        JSON.stringify(errorBody(err)),
        err.statusCode === 401 ? ['www-authenticate', 'Bearer'] : undefined
      );
      return;
    }
    log.error({ reqId, err, url }, 'request failed');
    respond(
      res,
      name,
      state,
      start,
      500,
      JSON.stringify({ error: `internal error (request ${reqId}); the server log has the details` })
    );
  };

  const handle = (
    req: IncomingMessage,
    res: ServerResponse,
    name: string,
    key: string | string[] | undefined,
    text: string,
    start: number
  ): void => {
    const state = newPredictState();
    let json: string;
    try {
      const scored = predictor.score(name, parseBody(text), key, state);
      if (scored) {
        scored
          .then(() => predictJson(name, state))
          .then(
            (answer) => respond(res, name, state, start, 200, answer),
            (err: unknown) => fail(res, req.url!, name, state, start, err)
          )
          .catch((err: unknown) => log.error({ err, url: req.url }, 'predict answer failed'));
        return;
      }
      json = predictJson(name, state);
    } catch (err) {
      fail(res, req.url!, name, state, start, err);
      return;
    }
    respond(res, name, state, start, 200, json);
  };

  return (req, res) => {
    const start = performance.now();
    if (req.method !== 'POST' || !open()) return false;
    const url = req.url!;
    if (!url.startsWith(PREFIX) || !url.endsWith(SUFFIX)) return false;
    const name = url.slice(PREFIX.length, url.length - SUFFIX.length);
    if (!PLAIN_NAME.test(name)) return false;
    // Node reads the headers into `req.headers` for itself (Host, Expect): looking them up is cheap.
    const headers = req.headers;
    const type = headers['content-type'];
    if (type !== 'application/json' && type !== JSON_TYPE) return false;
    const length = Number(headers['content-length']);
    if (!(length > 0 && length <= bodyLimit) || headers['transfer-encoding'] !== undefined) return false;
    const authorization = headers.authorization;
    const key = headers['x-cairn-key'];
    if (!authorization?.startsWith('Bearer ') || authorization.indexOf(' ', 7) !== -1) return false;
    const socket = req.socket as RememberingSocket;
    const known = tokens.checkRemembered(authorization.slice(7), (socket[TOKEN_MEMO] ??= {}));
    if (known instanceof Promise) return false;
    const principal = known.principal;
    if (!principal || !grants.allows(principal, name) || !models.get(name)) return false;

    let first: Buffer | undefined;
    let more: Buffer[] | undefined;
    req.on('data', (chunk: Buffer) => {
      if (!first) first = chunk;
      else (more ??= [first]).push(chunk);
    });
    req.on('end', () => {
      const text = more ? Buffer.concat(more).toString('utf8') : first ? first.toString('utf8') : '';
      handle(req, res, name, key, text, start);
    });
    return true;
  };
}
