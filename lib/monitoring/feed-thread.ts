import { hostname } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { CairnConfig } from '../config/index.js';
import type { Table } from '../data/table.js';
import type { Scorer } from '../scoring/scorer.js';
import type { FeedModel } from './feed.js';
import type { FeedCounts, FeedThreadData, FromFeedThread, ToFeedThread } from './feed-thread-protocol.js';
import { fromWireError } from './feed-thread-protocol.js';
import { FeedEncoder, wireModel } from './feed-wire.js';
import type { WireModel } from './feed-wire.js';

// The thread runs TypeScript too: its entry registers tsx, whatever started this process (tsx, vitest, node).
const ENTRY = new URL('./feed-thread-entry.mjs', import.meta.url);

/** A served version as the feed takes it: the recorder's view, and its scorer's `prediction` for sampled rows. */
export interface FeedThreadModel extends FeedModel {
  scorer: FeedModel['scorer'] & Pick<Scorer, 'prediction'>;
}

export interface FeedThreadOptions {
  /** The thread opens a pool of its own (a pool cannot cross threads). */
  database: CairnConfig['database'];
  environment: string;
  /** Names this server in serving_stats. @default `<hostname>:<pid>` */
  server?: string;
  /** Share of served rows kept in the prediction log. @default 0 */
  sampleRate?: number;
  /** Sampled rows the thread holds while the database is unreachable; more are dropped and counted. @default 10000 */
  maxPendingSamples?: number;
  /** How often the thread writes the feed; 0: only on `flush` and `close`. @default 0 */
  flushIntervalMs?: number;
  /** How long a request's record may wait on this thread before its batch is sent. @default 50 */
  batchMs?: number;
  /** A batch is sent at once when it holds this many records. @default 2048 */
  maxBatchRecords?: number;
  /** A timed flush failed (its data is kept for the next one). */
  onFlushError?: (err: Error) => void;
  /** PostgreSQL refused a sampled row for its content; it is dropped. */
  onRejectedSample?: (err: Error, id: string) => void;
  /** The thread stopped unexpectedly: what it held and had not written is lost; it is started again. */
  onThreadError?: (err: Error) => void;
  /** @default Math.random */
  random?: () => number;
}

/** Records held on this thread while the feed thread is down; beyond them records are dropped (and counted). */
const MAX_HELD_RECORDS = 100_000;
const RESTART_DELAY_MS = 1000;

/**
 * The monitoring feed (lib/monitoring/feed.ts) run off the serving thread. `record` appends a request to a batch
 * (numbers into a typed array, no objects: see feed-wire.ts) and decides which of its rows the prediction log
 * samples; every `batchMs` the batch's buffer is transferred to a worker thread, where a `FeedRecorder` with a
 * pool of its own aggregates the histograms, applies the log policy and writes serving_stats and prediction_log.
 * The serving thread does no aggregation, no JSON and no PostgreSQL I/O for the feed.
 *
 * Nothing is lost on the way: `flush`, `flushSamplesFor` and `close` send the batch under way first, and messages
 * to the thread arrive in order. A thread that dies (it should not) loses what it held; it is started again and
 * the versions it knew are sent to the new one, so records keep flowing.
 */
export class FeedThread {
  readonly environment: string;
  readonly server: string;
  readonly sampleRate: number;
  /** Sampled rows dropped because too many were waiting for the database (as the thread last reported). */
  droppedSamples = 0;
  /** Sampled rows PostgreSQL refused for their content (as the thread last reported). */
  rejectedSamples = 0;
  /** Timed flushes that failed (as the thread last reported). */
  flushErrors = 0;
  /** Records dropped on this thread while the feed thread was down and too many were held. */
  lostRecords = 0;
  /** Times the thread was started again after dying. */
  restarts = 0;

  private readonly options: FeedThreadOptions;
  private readonly data: FeedThreadData;
  private readonly random: () => number;
  private readonly batchMs: number;
  private readonly maxBatchRecords: number;
  private encoder = new FeedEncoder();
  private batchTimer: NodeJS.Timeout | undefined;
  private readonly slots = new WeakMap<object, number>();
  /** Every version registered, re-sent to a restarted thread. */
  private readonly models: WireModel[] = [];
  /** The input columns of each registered version, by slot. */
  private readonly columns: string[][] = [];
  private worker: Worker | undefined;
  private exited: Promise<void> = Promise.resolve();
  private restartTimer: NodeJS.Timeout | undefined;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private nextId = 0;
  private closed = false;
  private closing: Promise<void> | undefined;

  constructor(options: FeedThreadOptions) {
    this.options = options;
    this.environment = options.environment;
    this.server = options.server ?? `${hostname()}:${process.pid}`;
    this.sampleRate = options.sampleRate ?? 0;
    this.random = options.random ?? Math.random;
    this.batchMs = options.batchMs ?? 50;
    this.maxBatchRecords = options.maxBatchRecords ?? 2048;
    this.data = {
      database: options.database,
      environment: this.environment,
      server: this.server,
      flushIntervalMs: options.flushIntervalMs ?? 0,
      ...(options.maxPendingSamples === undefined ? {} : { maxPendingSamples: options.maxPendingSamples }),
    };
    this.spawn();
  }

  /**
   * One answered request: `raw` absent when it failed on the server (its rows count as errors). With `ids` (each
   * row's prediction id) and `inputs` (the rows as sent), a `sampleRate` share of its rows goes to the prediction
   * log, with the prediction `model.scorer.prediction` gives. Synchronous and cheap; never throws.
   */
  record(
    model: FeedThreadModel,
    latencyMs: number,
    table: Table,
    raw?: Float64Array,
    ids?: readonly string[],
    inputs?: readonly unknown[]
  ): void {
    if (this.closed) return;
    let slot = this.slots.get(model);
    if (slot === undefined) slot = this.register(model);
    const encoder = this.encoder;
    encoder.add(slot, this.columns[slot]!, latencyMs, table, raw);
    if (raw && ids && inputs && this.sampleRate > 0) {
      for (let i = 0; i < table.rowCount; i++) {
        if (this.random() >= this.sampleRate) continue;
        encoder.addSample(ids[i]!, inputs[i], model.scorer.prediction(raw, i));
      }
    }
    if (encoder.records >= this.maxBatchRecords) this.sendBatch();
    else if (!this.batchTimer) {
      this.batchTimer = setTimeout(this.sendBatch, this.batchMs);
      this.batchTimer.unref();
    }
  }

  /** Writes everything recorded so far (serving_stats rows and sampled rows); the thread's answer. */
  flush(): Promise<{ windows: number; samples: number }> {
    return this.call({ type: 'flush' }) as Promise<{ windows: number; samples: number }>;
  }

  /** Writes the sampled rows now if any of `ids` is among those not yet written (feedback may refer to them). */
  flushSamplesFor(ids: readonly string[]): Promise<number> {
    return this.call({ type: 'flush-samples', ids: [...ids] }) as Promise<number>;
  }

  /** Sends what is left, lets the thread write it and stops the thread. */
  close(): Promise<void> {
    return (this.closing ??= (async () => {
      this.closed = true;
      clearTimeout(this.restartTimer);
      try {
        await this.call({ type: 'close' });
      } finally {
        const late = setTimeout(() => void this.worker?.terminate(), 10_000);
        await this.exited;
        clearTimeout(late);
      }
    })());
  }

  private register(model: FeedThreadModel): number {
    const slot = this.models.length;
    const wire = wireModel(slot, model);
    this.models.push(wire);
    this.columns.push(model.scorer.inputs.map((r) => r.column));
    this.slots.set(model, slot);
    this.worker?.postMessage({ type: 'model', model: wire } satisfies ToFeedThread);
    return slot;
  }

  private readonly sendBatch = (): void => {
    clearTimeout(this.batchTimer);
    this.batchTimer = undefined;
    if (!this.worker) {
      // Held for the thread's restart, within a bound.
      if (this.encoder.records > MAX_HELD_RECORDS) this.lostRecords += this.encoder.take()?.records ?? 0;
      return;
    }
    const batch = this.encoder.take();
    if (!batch) return;
    this.worker.postMessage({ type: 'batch', batch } satisfies ToFeedThread, [batch.nums.buffer as ArrayBuffer]);
  };

  private call(message: DistributiveOmit<Extract<ToFeedThread, { id: number }>, 'id'>): Promise<unknown> {
    if (!this.worker) this.spawn();
    this.sendBatch();
    const id = ++this.nextId;
    return new Promise((resolve, reject) => {
      if (this.pending.size === 0) this.worker!.ref();
      this.pending.set(id, { resolve, reject });
      this.worker!.postMessage({ ...message, id } as ToFeedThread);
    });
  }

  private spawn(): void {
    clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    const worker = new Worker(ENTRY, { workerData: this.data });
    // The thread keeps the process alive only while an answer is awaited.
    worker.unref();
    this.worker = worker;
    for (const model of this.models) worker.postMessage({ type: 'model', model } satisfies ToFeedThread);
    // Category values earlier batches introduced, which the batch held for this thread may use.
    const interned = this.encoder.internedBefore();
    if (interned.length) worker.postMessage({ type: 'interned', values: interned } satisfies ToFeedThread);
    let failure: Error | undefined;
    worker.on('message', (m: FromFeedThread) => this.receive(m));
    worker.on('error', (err) => (failure = err));
    this.exited = new Promise((resolve) =>
      worker.once('exit', (code) => {
        if (this.worker === worker) this.worker = undefined;
        const expected = this.closed && code === 0 && !failure;
        if (!expected) this.died(failure ?? new Error(`the monitoring feed thread exited with code ${code}`));
        resolve();
      })
    );
  }

  private died(err: Error): void {
    const lost = new Error(`the monitoring feed thread stopped: ${err.message}`, { cause: err });
    for (const { reject } of this.pending.values()) reject(lost);
    this.pending.clear();
    if (this.closed) return;
    this.options.onThreadError?.(lost);
    this.restarts++;
    this.restartTimer = setTimeout(() => {
      this.spawn();
      this.sendBatch();
    }, RESTART_DELAY_MS);
    this.restartTimer.unref();
  }

  private receive(m: FromFeedThread): void {
    this.count(m.counts);
    if (m.type === 'reply') {
      const waiting = this.pending.get(m.id);
      if (!waiting) return;
      this.pending.delete(m.id);
      if (this.pending.size === 0) this.worker?.unref();
      if (m.ok) waiting.resolve(m.value);
      else waiting.reject(fromWireError(m.error));
    } else if (m.type === 'recycle') this.encoder.recycle(m.nums);
    else if (m.type === 'flush-error') this.options.onFlushError?.(fromWireError(m.error));
    else this.options.onRejectedSample?.(fromWireError(m.error), m.id);
  }

  private count(c: FeedCounts): void {
    this.droppedSamples = c.droppedSamples;
    this.rejectedSamples = c.rejectedSamples;
    this.flushErrors = c.flushErrors;
  }
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
