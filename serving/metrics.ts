import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Metric, MetricValue } from 'prom-client';
import type { LoadedModel, ModelRoute } from './model-set.js';

/** The request metrics of one served version, counted without a label lookup per request. */
export interface VersionMetrics {
  /** A predict request this version answered with `status` after `seconds`, with `rows` predictions in it. */
  request(status: number, seconds: number, rows: number): void;
}

/** Counts of one version not yet added to the prom-client counters (they are when scraped). */
interface Pending {
  labels: { model: string; version: string };
  /** Requests answered 200: most of them, counted without a map. */
  ok: number;
  statuses: Map<number, number>;
  predictions: number;
}

/** Upper bounds of the request duration histogram, seconds. */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/** One version's request durations: counts per bucket (the last: above every bound), sum and count. */
class LatencyCounts {
  readonly counts = new Float64Array(LATENCY_BUCKETS.length + 1);
  sum = 0;
  count = 0;
  constructor(readonly labels: { model: string; version: string }) {}

  observe(seconds: number): void {
    let b = 0;
    while (b < LATENCY_BUCKETS.length && seconds > LATENCY_BUCKETS[b]!) b++;
    this.counts[b]!++;
    this.sum += seconds;
    this.count++;
  }
}

/**
 * A Prometheus histogram of request durations by model and version, exported as prom-client's Histogram exports
 * one (`_bucket` with `le`, `_sum`, `_count`). prom-client hashes the label object on every observation, which
 * cost more than the rest of the metrics together; here a version's counts are found once and added to as plain
 * numbers.
 */
class LatencyHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly versions = new Map<string, LatencyCounts>();

  constructor(
    readonly name: string,
    readonly help: string
  ) {}

  /** The counts of one version, made on first use. */
  of(labels: { model: string; version: string }): LatencyCounts {
    const key = `${labels.model}@${labels.version}`;
    let counts = this.versions.get(key);
    if (!counts) this.versions.set(key, (counts = new LatencyCounts(labels)));
    return counts;
  }

  async get() {
    const values: (MetricValue<string> & { metricName: string })[] = [];
    for (const v of this.versions.values()) {
      let cumulative = 0;
      LATENCY_BUCKETS.forEach((le, b) => {
        cumulative += v.counts[b]!;
        values.push({ metricName: `${this.name}_bucket`, labels: { le, ...v.labels }, value: cumulative });
      });
      values.push(
        { metricName: `${this.name}_bucket`, labels: { le: '+Inf', ...v.labels }, value: v.count },
        { metricName: `${this.name}_sum`, labels: v.labels, value: v.sum },
        { metricName: `${this.name}_count`, labels: v.labels, value: v.count }
      );
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  reset(): void {
    this.versions.clear();
  }
}

export interface ServingMetrics {
  registry: Registry;
  /** Predict requests by model, serving version and HTTP status (model '(unknown)' for names not served). */
  requests: Counter<'model' | 'version' | 'status'>;
  /** Rows answered, by model and version. */
  predictions: Counter<'model' | 'version'>;
  /** Seconds from a predict request's arrival to its answer (a histogram). */
  latency: LatencyHistogram;
  /** Feedback labels by model and outcome (stored, unknown). */
  feedback: Counter<'model' | 'outcome'>;
  feedFlushErrors: Counter;
  /** Prompt render requests by prompt, version and outcome (rendered, refused: the variables; unknown: no such prompt). */
  promptRenders: Counter<'prompt' | 'version' | 'outcome'>;
  indexSearches: Counter<'index' | 'version' | 'outcome'>;
  indexSearchSeconds: Histogram<'index'>;
  /**
   * The request metrics of a loaded version. Its requests and predictions are plain numbers until a scrape adds them
   * to `requests` and `predictions` (prom-client hashes a label object on every call).
   */
  of(loaded: LoadedModel): VersionMetrics;
}

/**
 * The server's Prometheus metrics, on a registry of its own (two servers in one process, as in tests, do not clash).
 * Gauges read the live state when scraped.
 */
export function createServingMetrics(state: {
  routes: () => ModelRoute[];
  droppedSamples: () => number;
  rejectedSamples: () => number;
}): ServingMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const registers = [registry];
  new Gauge({
    name: 'cairn_serving_loaded_versions',
    help: 'Model versions loaded and serving (1 per version), by role (stable, canary).',
    labelNames: ['model', 'version', 'role'] as const,
    registers,
    collect() {
      this.reset();
      for (const route of state.routes()) {
        this.set({ model: route.model, version: String(route.stable.version), role: 'stable' }, 1);
        if (route.canary) this.set({ model: route.model, version: String(route.canary.version), role: 'canary' }, 1);
      }
    },
  });
  new Gauge({
    name: 'cairn_serving_feed_dropped_samples',
    help: 'Sampled predictions dropped because too many were waiting for the database (since start).',
    registers,
    collect() {
      this.set(state.droppedSamples());
    },
  });
  new Gauge({
    name: 'cairn_serving_feed_rejected_samples',
    help: 'Sampled predictions PostgreSQL refused for their content, dropped instead of retried (since start).',
    registers,
    collect() {
      this.set(state.rejectedSamples());
    },
  });
  const pending = new Map<string, Pending>();
  const requests = new Counter({
    name: 'cairn_serving_requests_total',
    help: 'Predict requests by model, serving version and HTTP status.',
    labelNames: ['model', 'version', 'status'] as const,
    registers,
    collect() {
      for (const p of pending.values()) {
        if (p.ok > 0) this.inc({ ...p.labels, status: 200 }, p.ok);
        p.ok = 0;
        for (const [status, n] of p.statuses) {
          if (n > 0) this.inc({ ...p.labels, status }, n);
          p.statuses.set(status, 0);
        }
      }
    },
  });
  const predictions = new Counter({
    name: 'cairn_serving_predictions_total',
    help: 'Rows scored and answered, by model and version.',
    labelNames: ['model', 'version'] as const,
    registers,
    collect() {
      for (const p of pending.values()) {
        if (p.predictions > 0) this.inc(p.labels, p.predictions);
        p.predictions = 0;
      }
    },
  });
  const latency = new LatencyHistogram(
    'cairn_serving_request_duration_seconds',
    "Seconds from a predict request's arrival to its answer."
  );
  registry.registerMetric(latency as unknown as Metric);
  const versions = new WeakMap<LoadedModel, VersionMetrics>();
  const of = (loaded: LoadedModel): VersionMetrics => {
    let metrics = versions.get(loaded);
    if (metrics) return metrics;
    const labels = { model: loaded.model, version: String(loaded.version) };
    const key = `${labels.model}@${labels.version}`;
    let p = pending.get(key);
    if (!p) pending.set(key, (p = { labels, ok: 0, statuses: new Map(), predictions: 0 }));
    const counts = p;
    const timed = latency.of(labels);
    metrics = {
      request(status, seconds, rows) {
        if (status === 200) counts.ok++;
        else counts.statuses.set(status, (counts.statuses.get(status) ?? 0) + 1);
        counts.predictions += rows;
        timed.observe(seconds);
      },
    };
    versions.set(loaded, metrics);
    return metrics;
  };
  return {
    registry,
    of,
    requests,
    predictions,
    latency,
    feedback: new Counter({
      name: 'cairn_serving_feedback_total',
      help: 'Feedback labels by model and outcome (stored, unknown prediction id).',
      labelNames: ['model', 'outcome'] as const,
      registers,
    }),
    feedFlushErrors: new Counter({
      name: 'cairn_serving_feed_flush_errors_total',
      help: 'Monitoring feed writes to PostgreSQL that failed (their data is kept for the next flush).',
      registers,
    }),
    promptRenders: new Counter({
      name: 'cairn_serving_prompt_renders_total',
      help: 'Prompt render requests by prompt, version and outcome (rendered; refused: variables; unknown prompt).',
      labelNames: ['prompt', 'version', 'outcome'] as const,
      registers,
    }),
    indexSearches: new Counter({
      name: 'cairn_serving_index_searches_total',
      help: 'Vector index searches by index, version and outcome (found; empty: no neighbour within maxDistance; refused: body; unknown index).',
      labelNames: ['index', 'version', 'outcome'] as const,
      registers,
    }),
    indexSearchSeconds: new Histogram({
      name: 'cairn_serving_index_search_seconds',
      help: 'Vector index search latency (embedding the query and searching; not loading a version) by index.',
      labelNames: ['index'] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
      registers,
    }),
  };
}
