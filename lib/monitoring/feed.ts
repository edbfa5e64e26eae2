import { hostname } from 'node:os';
import type { Column, Table } from '../data/table.js';
import type { Queryable } from '../db/pool.js';
import { applyLogPolicy } from './log-policy.js';
import type { Scorer } from '../scoring/scorer.js';
import { addCounts, binOf, histogramQuantile, LATENCY_EDGES } from './histograms.js';

/** Counts on fixed edges: bin i holds edges[i] <= v < edges[i + 1] (the last bin also the last edge). */
export interface NumericBins {
  kind: 'numeric';
  edges: number[];
  counts: number[];
  missing: number;
}

/**
 * Counts per value. A window keeps at most `MAX_CATEGORIES` distinct values of a column; rarer ones beyond that are
 * counted under `OTHER_CATEGORY`.
 */
export interface CategoryCounts {
  kind: 'categorical';
  counts: Record<string, number>;
  missing: number;
}

/** What one model version served in one environment over a time range (summed over servers and flushes). */
export interface FeedSummary {
  model: string;
  environment: string;
  version: number;
  from: Date;
  to: Date;
  /** Requests answered by this version (one request may carry many rows), failed ones included. */
  requests: number;
  /** Rows of requests that failed on the server (scoring threw or gave a non-finite output; answered 500). */
  errors: number;
  /** Rows scored and answered. */
  predictions: number;
  /** Milliseconds from a request's arrival to its answer, on `LATENCY_EDGES`; p50/p99 null when no requests. */
  latencyMs: { edges: number[]; counts: number[]; p50: number | null; p99: number | null };
  /**
   * Per contract input column: numeric columns on the package's reference histogram edges (values below/above the
   * range go to the first/last bin), string and boolean columns by value. Rows of failed requests are included.
   */
  features: Record<string, NumericBins | CategoryCounts>;
  /**
   * Regression: predicted values on the target column's reference edges; classification: counts per predicted class.
   * An empty categorical count when the range holds no data.
   */
  outputs: NumericBins | CategoryCounts;
  /** serving_stats rows summed (one per server flush that saw this version). */
  windows: number;
}

/** One serving_stats row: what one server saw of one version between two flushes. */
export interface FeedWindow {
  model: string;
  version: number;
  windowStart: Date;
  windowEnd: Date;
  requests: number;
  errors: number;
  predictions: number;
  latency: { edges: number[]; counts: number[] };
  features: Record<string, NumericBins | CategoryCounts>;
  outputs: NumericBins | CategoryCounts;
}

export const MAX_CATEGORIES = 1000;
export const OTHER_CATEGORY = '(other)';

/** What the recorder needs of a served version: its package (reference statistics, task, classes) and inputs. */
export interface FeedModel {
  model: string;
  version: number;
  scorer: Pick<Scorer, 'pkg' | 'inputs'>;
}

/** One answered request, as the server hands it to the recorder. */
export interface ServedRequest {
  model: FeedModel;
  /** Milliseconds from the request's arrival to its answer. */
  latencyMs: number;
  /** The request's rows, contract-checked. */
  table: Table;
  /** Raw outputs (`Scorer.score`); absent when the request failed on the server: every row counts as an error. */
  raw?: Float64Array;
  /** Each row's prediction id, the row as sent and its prediction: the prediction log keeps a `sampleRate` share. */
  log?: { ids: readonly string[]; inputs: readonly unknown[]; outputs: readonly unknown[] };
}

export interface FeedRecorderOptions {
  db: Queryable;
  environment: string;
  /** Names this server in serving_stats. @default `<hostname>:<pid>` */
  server?: string;
  /** Share of served rows kept in the prediction log. @default 0 */
  sampleRate?: number;
  /** Sampled rows held for the next write; more are dropped (and counted) while the database is unreachable. @default 10000 */
  maxPendingSamples?: number;
  /** Called when a timed flush fails (the data is kept for the next one). */
  onFlushError?: (err: unknown) => void;
  /** Called for a sampled row PostgreSQL refused for its content (it is dropped). */
  onRejectedSample?: (err: unknown, id: string) => void;
  /** @default Math.random */
  random?: () => number;
  /** @default () => new Date() */
  now?: () => Date;
}

type ColumnPlan =
  { name: string; kind: 'numeric'; edges: Float64Array; list: number[] } | { name: string; kind: 'categorical' };

interface Plan {
  columns: ColumnPlan[];
  output:
    { kind: 'numeric'; edges: Float64Array; list: number[] } | { kind: 'categorical'; classes: string[]; k: number };
}

const plans = new WeakMap<object, Plan>();

/** Histogram edges of each input column and of the output, from the package's reference statistics (computed once). */
function planOf(scorer: FeedModel['scorer']): Plan {
  let plan = plans.get(scorer);
  if (plan) return plan;
  const { pkg } = scorer;
  const reference = new Map(pkg.referenceStatistics.columns.map((c) => [c.name, c]));
  const edgesOf = (name: string): number[] => {
    const stats = reference.get(name);
    return stats && (stats.type === 'number' || stats.type === 'timestamp') && stats.histogram
      ? stats.histogram.edges
      : [];
  };
  const columns = scorer.inputs.map((rule): ColumnPlan => {
    if (rule.type === 'number' || rule.type === 'timestamp') {
      const list = edgesOf(rule.column);
      return { name: rule.column, kind: 'numeric', edges: Float64Array.from(list), list };
    }
    return { name: rule.column, kind: 'categorical' };
  });
  const classes = pkg.classes ?? [];
  const output: Plan['output'] =
    pkg.task === 'regression'
      ? { kind: 'numeric', list: edgesOf(pkg.target), edges: Float64Array.from(edgesOf(pkg.target)) }
      : { kind: 'categorical', classes, k: pkg.task === 'multiclass' ? classes.length : 1 };
  plan = { columns, output };
  plans.set(scorer, plan);
  return plan;
}

class NumericCounter {
  readonly counts: Float64Array;
  missing = 0;
  constructor(
    readonly edges: Float64Array,
    readonly list: number[]
  ) {
    this.counts = new Float64Array(Math.max(edges.length - 1, 0));
  }

  /** A value on the edges; without edges (the reference never saw a value) only missing values are counted. */
  add(v: number): void {
    if (this.edges.length >= 2) this.counts[binOf(this.edges, v)]!++;
  }

  addColumn(column: Column | undefined, rows: number): void {
    if (!column || column.type === 'string' || column.type === 'boolean') {
      this.missing += rows;
      return;
    }
    const { values, missing } = column;
    for (let i = 0; i < rows; i++) {
      if (missing[i] === 1) this.missing++;
      else this.add(values[i]!);
    }
  }

  toJSON(): NumericBins {
    return { kind: 'numeric', edges: this.list, counts: Array.from(this.counts), missing: this.missing };
  }
}

class CategoryCounter {
  readonly counts = new Map<string, number>();
  missing = 0;

  add(value: string, n = 1): void {
    const current = this.counts.get(value);
    if (current !== undefined) this.counts.set(value, current + n);
    else if (this.counts.size < MAX_CATEGORIES) this.counts.set(value, n);
    else this.counts.set(OTHER_CATEGORY, (this.counts.get(OTHER_CATEGORY) ?? 0) + n);
  }

  addColumn(column: Column | undefined, rows: number): void {
    if (!column) {
      this.missing += rows;
      return;
    }
    if (column.type === 'string') {
      // Count codes first: one map update per distinct value, not per row.
      const perCode = new Float64Array(column.dictionary.length);
      const { codes } = column;
      for (let i = 0; i < rows; i++) {
        const code = codes[i]!;
        if (code < 0) this.missing++;
        else perCode[code]!++;
      }
      for (let code = 0; code < perCode.length; code++)
        if (perCode[code]) this.add(column.dictionary[code]!, perCode[code]);
      return;
    }
    let yes = 0;
    let no = 0;
    const { values, missing } = column;
    for (let i = 0; i < rows; i++) {
      if (missing[i] === 1) this.missing++;
      else if (column.type === 'boolean') {
        if (values[i] === 1) yes++;
        else no++;
      } else this.add(String(values[i]));
    }
    if (yes) this.add('true', yes);
    if (no) this.add('false', no);
  }

  toJSON(): CategoryCounts {
    return { kind: 'categorical', counts: Object.fromEntries(this.counts), missing: this.missing };
  }
}

/** What one version saw since the last flush. */
class VersionStats {
  requests = 0;
  errors = 0;
  predictions = 0;
  readonly latency = new Float64Array(LATENCY_EDGES.length - 1);
  readonly features: (NumericCounter | CategoryCounter)[];
  readonly outputs: NumericCounter | CategoryCounter;

  constructor(
    readonly model: string,
    readonly version: number,
    readonly plan: Plan
  ) {
    this.features = plan.columns.map((c) =>
      c.kind === 'numeric' ? new NumericCounter(c.edges, c.list) : new CategoryCounter()
    );
    this.outputs =
      plan.output.kind === 'numeric' ? new NumericCounter(plan.output.edges, plan.output.list) : new CategoryCounter();
  }

  record(r: ServedRequest): void {
    const { table, raw } = r;
    const rows = table.rowCount;
    this.requests++;
    this.latency[binOf(LATENCY_EDGES, r.latencyMs)]!++;
    const { columns } = this.plan;
    for (let c = 0; c < columns.length; c++) this.features[c]!.addColumn(table.columns[columns[c]!.name], rows);
    if (!raw) {
      this.errors += rows;
      return;
    }
    this.predictions += rows;
    const output = this.plan.output;
    if (output.kind === 'numeric') {
      const counter = this.outputs as NumericCounter;
      for (let i = 0; i < rows; i++) counter.add(raw[i]!);
      return;
    }
    // Predicted classes: P(class 1) > 0.5 for binary models, the most probable class for multiclass ones.
    const { classes, k } = output;
    const perClass = new Float64Array(Math.max(classes.length, 2));
    if (k === 1) {
      for (let i = 0; i < rows; i++) perClass[raw[i]! > 0.5 ? 1 : 0]!++;
    } else {
      for (let i = 0; i < rows; i++) {
        let best = 0;
        for (let j = 1; j < k; j++) if (raw[i * k + j]! > raw[i * k + best]!) best = j;
        perClass[best]!++;
      }
    }
    const counter = this.outputs as CategoryCounter;
    for (let j = 0; j < perClass.length; j++) if (perClass[j]) counter.add(classes[j] ?? String(j), perClass[j]);
  }

  /** Adds `other` (a window whose write failed) into this one. */
  absorb(other: VersionStats): void {
    this.requests += other.requests;
    this.errors += other.errors;
    this.predictions += other.predictions;
    for (let i = 0; i < this.latency.length; i++) this.latency[i]! += other.latency[i]!;
    const merge = (into: NumericCounter | CategoryCounter, from: NumericCounter | CategoryCounter) => {
      into.missing += from.missing;
      if (into instanceof NumericCounter && from instanceof NumericCounter) {
        for (let i = 0; i < into.counts.length; i++) into.counts[i]! += from.counts[i] ?? 0;
      } else if (into instanceof CategoryCounter && from instanceof CategoryCounter) {
        for (const [value, n] of from.counts) into.add(value, n);
      }
    };
    this.features.forEach((f, i) => merge(f, other.features[i]!));
    merge(this.outputs, other.outputs);
  }

  toWindow(windowStart: Date, windowEnd: Date): FeedWindow {
    return {
      model: this.model,
      version: this.version,
      windowStart,
      windowEnd,
      requests: this.requests,
      errors: this.errors,
      predictions: this.predictions,
      latency: { edges: [...LATENCY_EDGES], counts: Array.from(this.latency) },
      features: Object.fromEntries(this.plan.columns.map((c, i) => [c.name, this.features[i]!.toJSON()])),
      outputs: this.outputs.toJSON(),
    };
  }
}

interface Sample {
  id: string;
  model: string;
  environment: string;
  version: number;
  input: unknown;
  output: unknown;
  at: string;
}

const SAMPLE_BATCH = 1000;

/**
 * The serving side of the monitoring feed. `record` is synchronous and cheap (typed arrays, one binary search per
 * numeric value); `flush` appends one serving_stats row per version that served since the last flush and writes
 * the sampled rows to prediction_log. A failed write keeps its data for the next flush (a write that committed but
 * whose answer was lost would be counted twice: rare, and only inflates one window).
 */
export class FeedRecorder {
  readonly environment: string;
  readonly server: string;
  readonly sampleRate: number;
  private stats = new Map<string, VersionStats>();
  private windowStart: Date;
  private samples: Sample[] = [];
  private sampleIds = new Set<string>();
  /** Sampled rows dropped because too many were waiting for the database. */
  droppedSamples = 0;
  /** Sampled rows PostgreSQL refused for their content (a data or constraint error): dropped, never re-queued. */
  rejectedSamples = 0;
  /** Flushes that failed. */
  flushErrors = 0;
  private writing: Promise<unknown> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private readonly random: () => number;
  private readonly now: () => Date;
  private readonly maxPendingSamples: number;

  constructor(private readonly options: FeedRecorderOptions) {
    this.environment = options.environment;
    this.server = options.server ?? `${hostname()}:${process.pid}`;
    this.sampleRate = options.sampleRate ?? 0;
    this.random = options.random ?? Math.random;
    this.now = options.now ?? (() => new Date());
    this.maxPendingSamples = options.maxPendingSamples ?? 10_000;
    this.windowStart = this.now();
  }

  record(r: ServedRequest): void {
    const { model, version } = r.model;
    const key = `${model}@${version}`;
    let stats = this.stats.get(key);
    if (!stats) this.stats.set(key, (stats = new VersionStats(model, version, planOf(r.model.scorer))));
    stats.record(r);
    if (r.log && r.raw && this.sampleRate > 0) this.sample(r.model, r.log);
  }

  private sample(m: FeedModel, log: NonNullable<ServedRequest['log']>): void {
    // Most requests keep no row: the time is read (and formatted) only for one that does.
    let at: string | undefined;
    for (let i = 0; i < log.ids.length; i++) {
      if (this.random() >= this.sampleRate) continue;
      if (this.samples.length >= this.maxPendingSamples) {
        this.droppedSamples++;
        continue;
      }
      const id = log.ids[i]!;
      this.samples.push({
        id,
        model: m.model,
        environment: this.environment,
        version: m.version,
        // The model's policy: PII columns dropped or hashed before the row is held, let alone written.
        input: applyLogPolicy(log.inputs[i], m.scorer.pkg.predictionLog),
        output: log.outputs[i],
        at: (at ??= this.now().toISOString()),
      });
      this.sampleIds.add(id);
    }
    if (this.samples.length >= SAMPLE_BATCH) void this.flushSamples().catch((err) => this.failed(err));
  }

  /** True when any of `ids` is a sampled prediction not yet written to prediction_log. */
  hasPendingSamples(ids: Iterable<string>): boolean {
    for (const id of ids) if (this.sampleIds.has(id)) return true;
    return false;
  }

  /** Takes what was recorded since the last take, as serving_stats rows (versions with requests only). */
  take(): FeedWindow[] {
    const stats = this.stats;
    const start = this.windowStart;
    const end = this.now();
    this.stats = new Map();
    this.windowStart = end;
    return [...stats.values()].filter((s) => s.requests > 0).map((s) => s.toWindow(start, end));
  }

  /** Writes the windows since the last flush and the sampled rows; one write at a time. */
  flush(): Promise<{ windows: number; samples: number }> {
    return this.serialized(async () => {
      const samples = await this.writeSamples();
      const stats = this.stats;
      const start = this.windowStart;
      const windows = this.take();
      if (windows.length === 0) return { windows: 0, samples };
      try {
        await insertWindows(this.options.db, this.environment, this.server, windows);
      } catch (err) {
        for (const [key, old] of stats) {
          const current = this.stats.get(key);
          if (current) current.absorb(old);
          else this.stats.set(key, old);
        }
        this.windowStart = start;
        throw err;
      }
      return { windows: windows.length, samples };
    });
  }

  /** Writes the sampled rows only (feedback may refer to them). */
  flushSamples(): Promise<number> {
    return this.serialized(() => this.writeSamples());
  }

  /** Flushes every `intervalMs` until `stop()`. */
  start(intervalMs: number): void {
    this.stop();
    this.timer = setInterval(() => void this.flush().catch((err) => this.failed(err)), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Stops the timer and writes what is left. */
  async close(): Promise<void> {
    this.stop();
    await this.flush();
  }

  private failed(err: unknown): void {
    this.flushErrors++;
    this.options.onFlushError?.(err);
  }

  private serialized<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.writing.then(fn, fn);
    this.writing = run.catch(() => undefined);
    return run;
  }

  private async writeSamples(): Promise<number> {
    let written = 0;
    while (this.samples.length > 0) {
      const batch = this.samples.splice(0, SAMPLE_BATCH);
      try {
        await this.insertSamples(batch);
      } catch (err) {
        // Back to the front of the queue, within the cap.
        const room = Math.max(this.maxPendingSamples - this.samples.length, 0);
        this.droppedSamples += Math.max(batch.length - room, 0);
        for (const s of batch.slice(room)) this.sampleIds.delete(s.id);
        this.samples.unshift(...batch.slice(0, room));
        throw err;
      }
      for (const s of batch) this.sampleIds.delete(s.id);
      written += batch.length;
    }
    return written;
  }

  /**
   * Inserts sampled rows. A batch PostgreSQL refuses for its content is split in halves until the rows it refuses
   * are alone: those are dropped and counted, the rest written. Anything else (the database away) is thrown, and
   * the batch waits for the next flush. Rows already written are skipped on a retry.
   */
  private async insertSamples(batch: Sample[]): Promise<void> {
    try {
      await this.options.db.query(
        `INSERT INTO cairn.prediction_log (id, model, environment, version, input, output, at)
         SELECT id, model, environment, version, input, output, at
         FROM jsonb_to_recordset($1::jsonb)
           AS x(id text, model text, environment text, version integer, input jsonb, output jsonb, at timestamptz)
         ON CONFLICT (id) DO NOTHING`,
        [JSON.stringify(batch)]
      );
    } catch (err) {
      if (!refusedForContent(err)) throw err;
      if (batch.length === 1) {
        this.rejectedSamples++;
        this.options.onRejectedSample?.(err, batch[0]!.id);
        return;
      }
      const half = batch.length >> 1;
      await this.insertSamples(batch.slice(0, half));
      await this.insertSamples(batch.slice(half));
    }
  }
}

/** PostgreSQL refused the statement for what it holds (SQLSTATE class 22, data exception, or 23, constraint). */
function refusedForContent(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && /^2[23]/.test(code);
}

async function insertWindows(db: Queryable, environment: string, server: string, windows: FeedWindow[]) {
  await db.query(
    `INSERT INTO cairn.serving_stats (model, environment, version, server, window_start, window_end, requests, errors,
       predictions, latency, features, outputs)
     SELECT model, $1, version, $2, window_start, window_end, requests, errors, predictions, latency, features, outputs
     FROM jsonb_to_recordset($3::jsonb) AS x(model text, version integer, window_start timestamptz,
       window_end timestamptz, requests bigint, errors bigint, predictions bigint, latency jsonb, features jsonb,
       outputs jsonb)`,
    [
      environment,
      server,
      JSON.stringify(
        windows.map((w) => ({
          model: w.model,
          version: w.version,
          window_start: w.windowStart.toISOString(),
          window_end: w.windowEnd.toISOString(),
          requests: w.requests,
          errors: w.errors,
          predictions: w.predictions,
          latency: w.latency,
          features: w.features,
          outputs: w.outputs,
        }))
      ),
    ]
  );
}

function emptyLike(bins: NumericBins | CategoryCounts): NumericBins | CategoryCounts {
  return bins.kind === 'numeric'
    ? { kind: 'numeric', edges: [...bins.edges], counts: bins.counts.map(() => 0), missing: 0 }
    : { kind: 'categorical', counts: {}, missing: 0 };
}

/** Adds `from` into `into` (same kind; a kind that changed between windows is left out). */
function addBins(into: NumericBins | CategoryCounts, from: NumericBins | CategoryCounts): void {
  if (into.kind === 'numeric' && from.kind === 'numeric') {
    into.missing += from.missing;
    addCounts(into.edges, into.counts, from.edges, from.counts);
  } else if (into.kind === 'categorical' && from.kind === 'categorical') {
    into.missing += from.missing;
    for (const [value, n] of Object.entries(from.counts)) into.counts[value] = (into.counts[value] ?? 0) + n;
  }
}

/** Sums windows into one summary (pure: `readFeed` without the query). */
export function sumWindows(
  windows: readonly Omit<FeedWindow, 'model' | 'version'>[],
  q: { model: string; environment: string; version: number; from: Date; to: Date }
): FeedSummary {
  const latency = new Array<number>(LATENCY_EDGES.length - 1).fill(0);
  const summary: FeedSummary = {
    ...q,
    requests: 0,
    errors: 0,
    predictions: 0,
    latencyMs: { edges: [...LATENCY_EDGES], counts: latency, p50: null, p99: null },
    features: {},
    outputs: { kind: 'categorical', counts: {}, missing: 0 },
    windows: windows.length,
  };
  windows.forEach((w, i) => {
    summary.requests += w.requests;
    summary.errors += w.errors;
    summary.predictions += w.predictions;
    addCounts(LATENCY_EDGES, latency, w.latency.edges, w.latency.counts);
    for (const [name, bins] of Object.entries(w.features)) {
      addBins((summary.features[name] ??= emptyLike(bins)), bins);
    }
    if (i === 0) summary.outputs = emptyLike(w.outputs);
    addBins(summary.outputs, w.outputs);
  });
  if (summary.requests > 0) {
    summary.latencyMs.p50 = histogramQuantile(LATENCY_EDGES, latency, 0.5, true);
    summary.latencyMs.p99 = histogramQuantile(LATENCY_EDGES, latency, 0.99, true);
  }
  return summary;
}

/** What `version` of `model` served in `environment`: the serving_stats rows whose window ends in (from, to], summed. */
export async function readFeed(
  db: Queryable,
  q: { model: string; environment: string; version: number; from: Date; to: Date }
): Promise<FeedSummary> {
  const { rows } = await db.query<Omit<FeedWindow, 'model' | 'version'>>(
    `SELECT window_start AS "windowStart", window_end AS "windowEnd", requests, errors, predictions, latency, features,
       outputs
     FROM cairn.serving_stats
     WHERE model = $1 AND environment = $2 AND version = $3 AND window_end > $4 AND window_end <= $5
     ORDER BY window_end, id`,
    [q.model, q.environment, q.version, q.from, q.to]
  );
  return sumWindows(rows, q);
}
