import type { Task } from './types.js';

/*
 * The parallel half of GBDT training (lib/ml/gbdt.ts grows the trees). Everything a tree needs from the rows lives
 * in SharedArrayBuffers: the binned rows, gradients, raw scores and the row indices. The growing thread cuts each
 * step of a tree level (gradients, partitions, histograms, leaf values) into tasks over segments of rows and writes
 * them to a shared task list; it and any helper threads (gbdt-helper.ts) claim tasks with a compare-and-swap until
 * none is left. A task's result depends only on the task, never on which thread ran it or when, and a node's
 * histogram is built per run of its segments and summed in run order by the growing thread, so a model is the same
 * bytes whatever the number of threads.
 */

/**
 * Rows per root segment and most rows per histogram task: fixed, because histogram sums are added up task by task
 * and the tasks depend on it.
 */
export const CHUNK = 16_384;

export const TASK_GRADIENTS = 1;
export const TASK_HISTOGRAM = 2;
export const TASK_PARTITION = 3;
export const TASK_ADD = 5;
export const TASK_SPLIT_ADD = 6;
/** Int32 words per task: kind, start, end, then up to five arguments. */
export const TASK_INTS = 8;
export const BUFFER_A = 0;
export const BUFFER_B = 1;
export const BUFFER_BASE = 2;

/** Words of the control array. */
export const CTL_GENERATION = 0;
/**
 * The current batch's size << COUNT_SHIFT | its next unclaimed task. A claim is one compare-and-swap of this word, so
 * it is valid for the batch the word describes, whatever a thread late from an earlier batch last saw.
 */
export const CTL_NEXT = 1;
export const CTL_DONE = 2;
export const CTL_CLASS = 3;
export const CTL_FEATURES = 4;
export const CTL_EXIT = 5;
export const CTL_FAILED = 6;
/** Tasks run by helper threads. */
export const CTL_HELPED = 7;
/** 1 when adding leaf values also updates squared-error gradients (g = raw - y), saving a pass over the rows. */
export const CTL_FUSED = 8;
const CTL_WORDS = 9;
export const COUNT_SHIFT = 12;
const TASK_MASK = (1 << COUNT_SHIFT) - 1;

const MIN_HESSIAN = 1e-16;

/** What every thread maps: plain numbers and SharedArrayBuffers, so it can go to a worker as workerData. */
export interface SharedRows {
  task: Task;
  rows: number;
  /** Raw score outputs: 1, or the number of classes. */
  outputs: number;
  features: number;
  /** Per feature, its number of value bins (the NaN bin's index) and its first histogram slot. */
  numBins: number[];
  offsets: number[];
  /** Histogram slots over all features (each feature's value bins plus its NaN bin). */
  slots: number;
  /** Whether histograms carry hessian sums (every task but squared error). */
  hessians: boolean;
  /** Tasks a batch holds, and histogram slots in the arena (task j of a batch writes arena slot j). */
  capacity: number;
  /** Row-major bins, `stride` words a row, four per word (see accumulate4); column-major bins, `rows` per feature. */
  packed: SharedArrayBuffer;
  stride: number;
  bins: SharedArrayBuffer;
  y: SharedArrayBuffer;
  /** Outputs × rows each: raw scores, gradients, hessians. */
  raw: SharedArrayBuffer;
  g: SharedArrayBuffer;
  h: SharedArrayBuffer;
  /**
   * Row indices, twice: a level's nodes own segments of one buffer, and partitioning them writes the next level's
   * segments to the other (see partition). `segments` holds (start, end) pairs that histogram tasks read.
   */
  rowsA: SharedArrayBuffer;
  rowsB: SharedArrayBuffer;
  /** The rows trees are grown on (every row, or a round's sample), which roots read. */
  base: SharedArrayBuffer;
  segments: SharedArrayBuffer;
  arena: SharedArrayBuffer;
  tasks: SharedArrayBuffer;
  values: SharedArrayBuffer;
  counts: SharedArrayBuffer;
  featureList: SharedArrayBuffer;
  control: SharedArrayBuffer;
}

/** Histogram length: (g, count) per slot, then a hessian per slot when there are hessians. */
export function histogramLength(slots: number, hessians: boolean): number {
  return hessians ? 3 * slots : 2 * slots;
}

/** Allocates the shared buffers for `rows` rows binned into `bins` (one Uint8Array per feature). */
export function allocateShared(
  task: Task,
  outputs: number,
  bins: Uint8Array[],
  numBins: number[],
  y: Float64Array
): SharedRows {
  const rows = y.length;
  const features = bins.length;
  const offsets: number[] = [];
  let slots = 0;
  for (let f = 0; f < features; f++) {
    offsets.push(slots);
    slots += numBins[f]! + 1;
  }
  const hessians = task !== 'regression';
  const histBytes = histogramLength(slots, hessians) * 8;
  // Enough tasks for a level's histograms in one batch on most data; a bigger level goes in several batches.
  const capacity = Math.max(4, Math.min(1024, TASK_MASK, Math.floor((64 << 20) / histBytes)));
  const stride = (features + 3) >> 2;
  const shared = (bytes: number) => new SharedArrayBuffer(Math.max(8, bytes));
  const s: SharedRows = {
    task,
    rows,
    outputs,
    features,
    numBins,
    offsets,
    slots,
    hessians,
    capacity,
    packed: shared(rows * stride * 4),
    stride,
    bins: shared(rows * features),
    y: shared(rows * 8),
    raw: shared(outputs * rows * 8),
    g: shared(outputs * rows * 8),
    h: shared(hessians ? outputs * rows * 8 : 8),
    rowsA: shared(rows * 4),
    rowsB: shared(rows * 4),
    base: shared(rows * 4),
    segments: shared(2 * rows * 4),
    arena: shared(capacity * histBytes),
    tasks: shared(capacity * TASK_INTS * 4),
    values: shared(capacity * 2 * 8),
    counts: shared(capacity * 4),
    featureList: shared(features * 4),
    control: shared(CTL_WORDS * 4),
  };
  new Float64Array(s.y).set(y);
  const packed = new Uint32Array(s.packed);
  const columns = new Uint8Array(s.bins);
  for (let f = 0; f < features; f++) {
    const column = bins[f]!;
    columns.set(column, f * rows);
    const w = f >> 2;
    const sh = (f & 3) << 3;
    for (let i = 0; i < rows; i++) packed[i * stride + w]! |= column[i]! << sh;
  }
  return s;
}

/**
 * Waits a little while `control[index]` still holds `value`, without sleeping: the next batch usually comes within
 * tens of microseconds, and waking from Atomics.wait takes about as long, which a short batch would spend idle.
 */
export function spinWhile(control: Int32Array, index: number, value: number): void {
  for (let i = 0; i < SPINS && Atomics.load(control, index) === value; i++);
}

const SPINS = 20_000;

/** One thread's view of the shared rows, and the code of every task. */
export class Kernels {
  readonly control: Int32Array;
  readonly tasks: Int32Array;
  readonly values: Float64Array;
  readonly counts: Int32Array;
  readonly arena: Float64Array;
  /** rowsA, rowsB and base: BUFFER_A, BUFFER_B, BUFFER_BASE. */
  readonly buffers: Uint32Array[];
  readonly segments: Int32Array;
  readonly featureList: Uint32Array;
  readonly histLength: number;
  private readonly packed: Uint32Array;
  private readonly bins: Uint8Array;
  private readonly y: Float64Array;
  private readonly raws: Float64Array[];
  private readonly gs: Float64Array[];
  private readonly hs: (Float64Array | null)[];
  // Shared like every other array the kernels read: V8 compiles a loop for one kind of buffer, and mixing
  // ArrayBuffer- and SharedArrayBuffer-backed arrays in one kernel makes it polymorphic and several times slower.
  private readonly gChunk = new Float64Array(new SharedArrayBuffer(CHUNK * 8));
  private readonly hChunk = new Float64Array(new SharedArrayBuffer(CHUNK * 8));

  constructor(readonly s: SharedRows) {
    const n = s.rows;
    const perOutput = (buffer: SharedArrayBuffer) =>
      Array.from({ length: s.outputs }, (_, c) => new Float64Array(buffer, c * n * 8, n));
    this.control = new Int32Array(s.control);
    this.tasks = new Int32Array(s.tasks);
    this.values = new Float64Array(s.values);
    this.counts = new Int32Array(s.counts);
    this.arena = new Float64Array(s.arena);
    this.buffers = [new Uint32Array(s.rowsA), new Uint32Array(s.rowsB), new Uint32Array(s.base)];
    this.segments = new Int32Array(s.segments);
    this.featureList = new Uint32Array(s.featureList);
    this.histLength = histogramLength(s.slots, s.hessians);
    this.packed = new Uint32Array(s.packed);
    this.bins = new Uint8Array(s.bins);
    this.y = new Float64Array(s.y);
    this.raws = perOutput(s.raw);
    this.gs = perOutput(s.g);
    this.hs = s.hessians ? perOutput(s.h) : Array.from({ length: s.outputs }, () => null);
  }

  raw(c: number): Float64Array {
    return this.raws[c]!;
  }

  gradients(c: number): Float64Array {
    return this.gs[c]!;
  }

  hessians(c: number): Float64Array | null {
    return this.hs[c]!;
  }

  /** A feature's column of bins. */
  column(f: number): Uint8Array {
    return this.bins.subarray(f * this.s.rows, (f + 1) * this.s.rows);
  }

  /** Claims and runs tasks of the current batch until none is left; a helper thread also counts them. */
  work(helper: boolean): void {
    const { control } = this;
    for (;;) {
      const next = Atomics.load(control, CTL_NEXT);
      const t = next & TASK_MASK;
      const count = next >>> COUNT_SHIFT;
      if (t >= count) return;
      if (Atomics.compareExchange(control, CTL_NEXT, next, next + 1) !== next) continue;
      this.run(t);
      if (helper) Atomics.add(control, CTL_HELPED, 1);
      if (Atomics.add(control, CTL_DONE, 1) + 1 === count) Atomics.notify(control, CTL_DONE);
    }
  }

  private run(t: number): void {
    const { tasks } = this;
    const o = t * TASK_INTS;
    const start = tasks[o + 1]!;
    const end = tasks[o + 2]!;
    const c = this.control[CTL_CLASS]!;
    switch (tasks[o]) {
      case TASK_GRADIENTS:
        return this.computeGradients(start, end);
      case TASK_HISTOGRAM:
        return this.histogram(t, start, end, tasks[o + 3] === 1, this.buffers[tasks[o + 4]!]!, c);
      case TASK_PARTITION: {
        const [from, to] = [this.buffers[tasks[o + 6]!]!, this.buffers[tasks[o + 7]!]!];
        this.counts[t] = this.partition(from, to, start, end, tasks[o + 3]!, tasks[o + 4]!, tasks[o + 5]!);
        return;
      }
      case TASK_ADD:
        return this.add(this.buffers[tasks[o + 3]!]!, this.raws[c]!, start, end, this.values[2 * t]!);
      case TASK_SPLIT_ADD:
        return this.splitAdd(
          this.buffers[tasks[o + 6]!]!,
          c,
          start,
          end,
          tasks[o + 3]!,
          tasks[o + 4]!,
          tasks[o + 5]!,
          t
        );
      default:
        throw new Error(`unknown GBDT task ${tasks[o]}`);
    }
  }

  /** Gradients and hessians of the loss at the current raw scores for rows [start, end) of every output. */
  private computeGradients(start: number, end: number): void {
    const { y, raws, gs, hs } = this;
    const task = this.s.task;
    if (task === 'regression') {
      const r = raws[0]!;
      const g0 = gs[0]!;
      for (let i = start; i < end; i++) g0[i] = r[i]! - y[i]!;
    } else if (task === 'binary') {
      const r = raws[0]!;
      const g0 = gs[0]!;
      const h0 = hs[0]!;
      for (let i = start; i < end; i++) {
        const p = 1 / (1 + Math.exp(-r[i]!));
        g0[i] = p - y[i]!;
        h0[i] = Math.max(p * (1 - p), MIN_HESSIAN);
      }
    } else {
      const k = raws.length;
      for (let i = start; i < end; i++) {
        let max = -Infinity;
        for (let c = 0; c < k; c++) max = Math.max(max, raws[c]![i]!);
        let sum = 0;
        for (let c = 0; c < k; c++) sum += Math.exp(raws[c]![i]! - max);
        const label = y[i]!;
        for (let c = 0; c < k; c++) {
          const p = Math.exp(raws[c]![i]! - max) / sum;
          gs[c]![i] = p - (c === label ? 1 : 0);
          hs[c]![i] = Math.max(p * (1 - p), MIN_HESSIAN);
        }
      }
    }
  }

  /**
   * Sums (g, 1) and h per bin of each listed feature over the rows of segments [from, to) into arena slot t: the
   * hot loop of training. Gradients are first gathered into row order (rows of the root over every row already
   * are); features then go four at a time (the rest three, two or one) per pass over a segment's rows, which keeps
   * several independent accumulations in flight and reads the row indices once per group.
   */
  private histogram(t: number, from: number, to: number, inOrder: boolean, rows: Uint32Array, c: number): void {
    const { histLength, segments } = this;
    const hist = this.arena.subarray(t * histLength, (t + 1) * histLength);
    hist.fill(0);
    const g = this.gs[c]!;
    const h = this.hs[c] ?? null;
    let gs = g;
    let hs = h;
    if (!inOrder) {
      gs = this.gChunk;
      hs = h ? this.hChunk : null;
      let at = 0;
      for (let j = from; j < to; j++) {
        const end = segments[2 * j + 1]!;
        for (let i = segments[2 * j]!; i < end; i++) gs[at++] = g[rows[i]!]!;
      }
      if (h) {
        at = 0;
        for (let j = from; j < to; j++) {
          const end = segments[2 * j + 1]!;
          for (let i = segments[2 * j]!; i < end; i++) hs![at++] = h[rows[i]!]!;
        }
      }
    }
    let at = 0;
    for (let j = from; j < to; j++) {
      const start = segments[2 * j]!;
      const end = segments[2 * j + 1]!;
      // Gradient of the row at position i is gs[i + shift]: in place for rows in order, gathered otherwise.
      this.accumulate(hist, rows, start, end, gs, hs, inOrder ? 0 : at - start);
      at += end - start;
    }
  }

  private accumulate(
    hist: Float64Array,
    rows: Uint32Array,
    start: number,
    end: number,
    g: Float64Array,
    h: Float64Array | null,
    shift: number
  ): void {
    const hOff = 2 * this.s.slots;
    const { packed } = this;
    const { stride, offsets } = this.s;
    const features = this.featureList.subarray(0, this.control[CTL_FEATURES]!);
    let j = 0;
    const nf = features.length;
    for (; j + 4 <= nf; j += 4) {
      const f0 = features[j]!;
      const f1 = features[j + 1]!;
      const f2 = features[j + 2]!;
      const f3 = features[j + 3]!;
      accumulate4(
        hist,
        hOff,
        rows,
        start,
        end,
        g,
        h,
        shift,
        packed,
        stride,
        f0 >> 2,
        (f0 & 3) << 3,
        offsets[f0]! * 2,
        f1 >> 2,
        (f1 & 3) << 3,
        offsets[f1]! * 2,
        f2 >> 2,
        (f2 & 3) << 3,
        offsets[f2]! * 2,
        f3 >> 2,
        (f3 & 3) << 3,
        offsets[f3]! * 2
      );
    }
    const rest = features.subarray(j);
    if (rest.length === 3) {
      const [f0, f1, f2] = rest as unknown as [number, number, number];
      accumulate3(
        hist,
        hOff,
        rows,
        start,
        end,
        g,
        h,
        shift,
        packed,
        stride,
        f0 >> 2,
        (f0 & 3) << 3,
        offsets[f0]! * 2,
        f1 >> 2,
        (f1 & 3) << 3,
        offsets[f1]! * 2,
        f2 >> 2,
        (f2 & 3) << 3,
        offsets[f2]! * 2
      );
    } else if (rest.length === 2) {
      const [f0, f1] = rest as unknown as [number, number];
      accumulate2(
        hist,
        hOff,
        rows,
        start,
        end,
        g,
        h,
        shift,
        packed,
        stride,
        f0 >> 2,
        (f0 & 3) << 3,
        offsets[f0]! * 2,
        f1 >> 2,
        (f1 & 3) << 3,
        offsets[f1]! * 2
      );
    } else if (rest.length === 1) {
      const f0 = rest[0]!;
      accumulate1(hist, hOff, rows, start, end, g, h, shift, packed, stride, f0 >> 2, (f0 & 3) << 3, offsets[f0]! * 2);
    }
  }

  /**
   * Partitions the rows of from[start, end) by one split into to[start, end): rows going left from the front in
   * order, rows going right from the back; returns how many went left. Every row is written at both cursors and only
   * the matching one moves (the other write lands where a later row goes): no data-dependent branch.
   */
  private partition(
    from: Uint32Array,
    to: Uint32Array,
    start: number,
    end: number,
    feature: number,
    bin: number,
    nanLeft: number
  ): number {
    const bins = this.column(feature);
    const nanBin = this.s.numBins[feature]!;
    let l = start;
    let r = end - 1;
    for (let i = start; i < end; i++) {
      const row = from[i]!;
      const v = bins[row]!;
      // v <= bin, or v is the NaN bin and NaN goes left (bins are < 256, so the sign bit decides).
      const goLeft = (1 + ((bin - v) >> 31)) | (nanLeft & (((v ^ nanBin) - 1) >>> 31));
      to[l] = row;
      to[r] = row;
      l += goLeft;
      r -= 1 - goLeft;
    }
    return l - start;
  }

  private add(rows: Uint32Array, raw: Float64Array, start: number, end: number, value: number): void {
    if (this.control[CTL_FUSED] === 1) {
      const { y } = this;
      const g = this.gs[0]!;
      for (let i = start; i < end; i++) {
        const row = rows[i]!;
        g[row] = (raw[row]! += value) - y[row]!;
      }
    } else for (let i = start; i < end; i++) raw[rows[i]!]! += value;
  }

  /**
   * Adds vl to the rows of rows[start, end) that the split sends left and vr to the others, as partitioning and then
   * adding each leaf's value to its rows would (a zero value is not added, so a -0 score stays -0).
   */
  private splitAdd(
    rows: Uint32Array,
    c: number,
    start: number,
    end: number,
    feature: number,
    bin: number,
    nanLeft: number,
    t: number
  ): void {
    const raw = this.raws[c]!;
    const vl = this.values[2 * t]!;
    const vr = this.values[2 * t + 1]!;
    const bins = this.column(feature);
    const nanBin = this.s.numBins[feature]!;
    if (this.control[CTL_FUSED] === 1) {
      // As below, and the row's gradient follows its score (a zero value leaves both as they are).
      const { y } = this;
      const g = this.gs[0]!;
      for (let i = start; i < end; i++) {
        const row = rows[i]!;
        const v = bins[row]!;
        const goLeft = (1 + ((bin - v) >> 31)) | (nanLeft & (((v ^ nanBin) - 1) >>> 31));
        g[row] = (raw[row]! += goLeft ? vl : vr) - y[row]!;
      }
    } else if (vl !== 0 && vr !== 0) {
      for (let i = start; i < end; i++) {
        const row = rows[i]!;
        const v = bins[row]!;
        const goLeft = (1 + ((bin - v) >> 31)) | (nanLeft & (((v ^ nanBin) - 1) >>> 31));
        raw[row]! += goLeft ? vl : vr;
      }
    } else {
      for (let i = start; i < end; i++) {
        const row = rows[i]!;
        const v = bins[row]!;
        const value = v <= bin || (v === nanBin && nanLeft === 1) ? vl : vr;
        if (value !== 0) raw[row]! += value;
      }
    }
  }
}

/*
 * Histogram kernels. A histogram holds (g, count) pairs, slot s at 2 * s, then one hessian sum per slot at hOff + s
 * (unused for squared error, whose hessian sum is the count). Offsets are a feature's first slot times 2. Rows are
 * rows[start, end) in order, the gradient (and hessian) of the row at position i at g[i + shift] (h[i + shift]). Bins come from
 * `packed`, every row's bins side by side (`stride` words a row, four bytes a word), so a row's bins for all
 * features share a cache line: feature f is byte (f & 3) of word f >> 2, i.e. word w at shift sh.
 */
function accumulate4(
  hist: Float64Array,
  hOff: number,
  rows: Uint32Array,
  start: number,
  end: number,
  g: Float64Array,
  h: Float64Array | null,
  shift: number,
  packed: Uint32Array,
  stride: number,
  w0: number,
  sh0: number,
  o0: number,
  w1: number,
  sh1: number,
  o1: number,
  w2: number,
  sh2: number,
  o2: number,
  w3: number,
  sh3: number,
  o3: number
): void {
  if (h) {
    for (let i = start; i < end; i++) {
      const p = rows[i]! * stride;
      const gi = g[i + shift]!;
      const hi = h[i + shift]!;
      const s0 = o0 + ((packed[p + w0]! >>> sh0) & 255) * 2;
      const s1 = o1 + ((packed[p + w1]! >>> sh1) & 255) * 2;
      const s2 = o2 + ((packed[p + w2]! >>> sh2) & 255) * 2;
      const s3 = o3 + ((packed[p + w3]! >>> sh3) & 255) * 2;
      hist[s0]! += gi;
      hist[hOff + (s0 >> 1)]! += hi;
      hist[s0 + 1]!++;
      hist[s1]! += gi;
      hist[hOff + (s1 >> 1)]! += hi;
      hist[s1 + 1]!++;
      hist[s2]! += gi;
      hist[hOff + (s2 >> 1)]! += hi;
      hist[s2 + 1]!++;
      hist[s3]! += gi;
      hist[hOff + (s3 >> 1)]! += hi;
      hist[s3 + 1]!++;
    }
  } else {
    for (let i = start; i < end; i++) {
      const p = rows[i]! * stride;
      const gi = g[i + shift]!;
      const s0 = o0 + ((packed[p + w0]! >>> sh0) & 255) * 2;
      const s1 = o1 + ((packed[p + w1]! >>> sh1) & 255) * 2;
      const s2 = o2 + ((packed[p + w2]! >>> sh2) & 255) * 2;
      const s3 = o3 + ((packed[p + w3]! >>> sh3) & 255) * 2;
      hist[s0]! += gi;
      hist[s0 + 1]!++;
      hist[s1]! += gi;
      hist[s1 + 1]!++;
      hist[s2]! += gi;
      hist[s2 + 1]!++;
      hist[s3]! += gi;
      hist[s3 + 1]!++;
    }
  }
}

function accumulate3(
  hist: Float64Array,
  hOff: number,
  rows: Uint32Array,
  start: number,
  end: number,
  g: Float64Array,
  h: Float64Array | null,
  shift: number,
  packed: Uint32Array,
  stride: number,
  w0: number,
  sh0: number,
  o0: number,
  w1: number,
  sh1: number,
  o1: number,
  w2: number,
  sh2: number,
  o2: number
): void {
  if (h) {
    for (let i = start; i < end; i++) {
      const p = rows[i]! * stride;
      const gi = g[i + shift]!;
      const hi = h[i + shift]!;
      const s0 = o0 + ((packed[p + w0]! >>> sh0) & 255) * 2;
      const s1 = o1 + ((packed[p + w1]! >>> sh1) & 255) * 2;
      const s2 = o2 + ((packed[p + w2]! >>> sh2) & 255) * 2;
      hist[s0]! += gi;
      hist[hOff + (s0 >> 1)]! += hi;
      hist[s0 + 1]!++;
      hist[s1]! += gi;
      hist[hOff + (s1 >> 1)]! += hi;
      hist[s1 + 1]!++;
      hist[s2]! += gi;
      hist[hOff + (s2 >> 1)]! += hi;
      hist[s2 + 1]!++;
    }
  } else {
    for (let i = start; i < end; i++) {
      const p = rows[i]! * stride;
      const gi = g[i + shift]!;
      const s0 = o0 + ((packed[p + w0]! >>> sh0) & 255) * 2;
      const s1 = o1 + ((packed[p + w1]! >>> sh1) & 255) * 2;
      const s2 = o2 + ((packed[p + w2]! >>> sh2) & 255) * 2;
      hist[s0]! += gi;
      hist[s0 + 1]!++;
      hist[s1]! += gi;
      hist[s1 + 1]!++;
      hist[s2]! += gi;
      hist[s2 + 1]!++;
    }
  }
}

function accumulate2(
  hist: Float64Array,
  hOff: number,
  rows: Uint32Array,
  start: number,
  end: number,
  g: Float64Array,
  h: Float64Array | null,
  shift: number,
  packed: Uint32Array,
  stride: number,
  w0: number,
  sh0: number,
  o0: number,
  w1: number,
  sh1: number,
  o1: number
): void {
  if (h) {
    for (let i = start; i < end; i++) {
      const p = rows[i]! * stride;
      const gi = g[i + shift]!;
      const hi = h[i + shift]!;
      const s0 = o0 + ((packed[p + w0]! >>> sh0) & 255) * 2;
      const s1 = o1 + ((packed[p + w1]! >>> sh1) & 255) * 2;
      hist[s0]! += gi;
      hist[hOff + (s0 >> 1)]! += hi;
      hist[s0 + 1]!++;
      hist[s1]! += gi;
      hist[hOff + (s1 >> 1)]! += hi;
      hist[s1 + 1]!++;
    }
  } else {
    for (let i = start; i < end; i++) {
      const p = rows[i]! * stride;
      const gi = g[i + shift]!;
      const s0 = o0 + ((packed[p + w0]! >>> sh0) & 255) * 2;
      const s1 = o1 + ((packed[p + w1]! >>> sh1) & 255) * 2;
      hist[s0]! += gi;
      hist[s0 + 1]!++;
      hist[s1]! += gi;
      hist[s1 + 1]!++;
    }
  }
}

function accumulate1(
  hist: Float64Array,
  hOff: number,
  rows: Uint32Array,
  start: number,
  end: number,
  g: Float64Array,
  h: Float64Array | null,
  shift: number,
  packed: Uint32Array,
  stride: number,
  w0: number,
  sh0: number,
  o0: number
): void {
  if (h) {
    for (let i = start; i < end; i++) {
      const p = rows[i]! * stride;
      const gi = g[i + shift]!;
      const hi = h[i + shift]!;
      const s0 = o0 + ((packed[p + w0]! >>> sh0) & 255) * 2;
      hist[s0]! += gi;
      hist[hOff + (s0 >> 1)]! += hi;
      hist[s0 + 1]!++;
    }
  } else {
    for (let i = start; i < end; i++) {
      const p = rows[i]! * stride;
      const gi = g[i + shift]!;
      const s0 = o0 + ((packed[p + w0]! >>> sh0) & 255) * 2;
      hist[s0]! += gi;
      hist[s0 + 1]!++;
    }
  }
}
