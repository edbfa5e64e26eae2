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
export const TASK_MARK = 5;
export const TASK_APPLY = 6;
export const TASK_MARK_SPLIT = 7;
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

/**
 * Squared error's histograms sum quantised gradients: round(g / step) with step = max |g| / QUANT_LEVELS, the tree's
 * largest gradient over 2^23 - 1 levels (a relative error of at most 6e-8 of it), packed with the row's count as
 * q * COUNT_SCALE + 1. One addition per feature per row then sums both, exactly: a task has at most CHUNK = 2^14 rows,
 * so counts stay below COUNT_SCALE and |sums| below 2^52. Being integers, the sums do not depend on the order
 * of addition either.
 */
export const QUANT_LEVELS = 2 ** 23 - 1;
const COUNT_SCALE = 2 ** 15;
/**
 * x + ROUND - ROUND rounds x (|x| < 2^51) to the nearest integer, ties to even: in the histogram loop, eight times
 * faster than Math.round on Node 20.
 */
const ROUND = 1.5 * 2 ** 52;

/**
 * Adds a task's packed histogram (`slots` sums) to a node's (sum of q, count) pairs, or sets them when `first`: the
 * sums of q are integers, so a node's are exact whatever the runs it was built from.
 */
export function addPacked(hist: Float64Array, packed: Float64Array, slots: number, first: boolean): void {
  for (let s = 0; s < slots; s++) {
    const sum = packed[s]!;
    const q = Math.floor(sum / COUNT_SCALE);
    const count = sum - q * COUNT_SCALE;
    if (first) {
      hist[2 * s] = q;
      hist[2 * s + 1] = count;
    } else {
      hist[2 * s]! += q;
      hist[2 * s + 1]! += count;
    }
  }
}

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
  /** Row-major bins, `stride` words a row, four per word (see histogramKernel); column-major bins, `rows` per feature. */
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
  /** What each task of a batch returns: rows a partition sent left, the largest |gradient| of gradient tasks. */
  results: SharedArrayBuffer;
  featureList: SharedArrayBuffer;
  control: SharedArrayBuffer;
  /** The tree being grown, for adding its leaf values in row order: per row, the leaf it ended in; per node, its value. */
  leafOf: SharedArrayBuffer;
  nodeValues: SharedArrayBuffer;
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
  y: Float64Array,
  maxNodes: number
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
    results: shared(capacity * 8),
    featureList: shared(features * 4),
    control: shared(CTL_WORDS * 4),
    leafOf: shared(rows * 4),
    nodeValues: shared(maxNodes * 8),
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
  readonly results: Float64Array;
  readonly arena: Float64Array;
  /** rowsA, rowsB and base: BUFFER_A, BUFFER_B, BUFFER_BASE. */
  readonly buffers: Uint32Array[];
  readonly segments: Int32Array;
  readonly featureList: Uint32Array;
  readonly histLength: number;
  readonly nodeValues: Float64Array;
  private readonly leafOf: Int32Array;
  private readonly packed: Uint32Array;
  private readonly bins: Uint8Array;
  private readonly y: Float64Array;
  private readonly raws: Float64Array[];
  private readonly gs: Float64Array[];
  private readonly hs: (Float64Array | null)[];
  /** Histogram kernels by feature list (trees sampling features use several), at most MAX_KERNELS. */
  private readonly kernels = new Map<string, HistogramKernel>();

  constructor(readonly s: SharedRows) {
    const n = s.rows;
    const perOutput = (buffer: SharedArrayBuffer) =>
      Array.from({ length: s.outputs }, (_, c) => new Float64Array(buffer, c * n * 8, n));
    this.control = new Int32Array(s.control);
    this.tasks = new Int32Array(s.tasks);
    this.values = new Float64Array(s.values);
    this.results = new Float64Array(s.results);
    this.arena = new Float64Array(s.arena);
    this.buffers = [new Uint32Array(s.rowsA), new Uint32Array(s.rowsB), new Uint32Array(s.base)];
    this.segments = new Int32Array(s.segments);
    this.featureList = new Uint32Array(s.featureList);
    this.histLength = histogramLength(s.slots, s.hessians);
    this.nodeValues = new Float64Array(s.nodeValues);
    this.leafOf = new Int32Array(s.leafOf);
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
        this.results[t] = this.computeGradients(start, end);
        return;
      case TASK_HISTOGRAM:
        return this.histogram(t, start, end, this.buffers[tasks[o + 3]!]!, c, this.values[2 * t]!);
      case TASK_PARTITION: {
        const [from, to] = [this.buffers[tasks[o + 6]!]!, this.buffers[tasks[o + 7]!]!];
        this.results[t] = this.partition(from, to, start, end, tasks[o + 3]!, tasks[o + 4]!, tasks[o + 5]!);
        return;
      }
      case TASK_MARK:
        return this.mark(this.buffers[tasks[o + 3]!]!, start, end, tasks[o + 4]!);
      case TASK_MARK_SPLIT: {
        const rows = this.buffers[tasks[o + 3]!]!;
        return this.markSplit(rows, start, end, tasks[o + 4]!, tasks[o + 5]!, tasks[o + 6]!, tasks[o + 7]!);
      }
      case TASK_APPLY:
        this.results[t] = this.apply(this.raws[c]!, start, end);
        return;
      default:
        throw new Error(`unknown GBDT task ${tasks[o]}`);
    }
  }

  /**
   * Gradients and hessians of the loss at the current raw scores for rows [start, end) of every output; returns the
   * largest |gradient| for squared error (see QUANT_LEVELS).
   */
  private computeGradients(start: number, end: number): number {
    const { y, raws, gs, hs } = this;
    const task = this.s.task;
    let largest = 0;
    if (task === 'regression') {
      const r = raws[0]!;
      const g0 = gs[0]!;
      for (let i = start; i < end; i++) largest = Math.max(largest, Math.abs((g0[i] = r[i]! - y[i]!)));
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
    return largest;
  }

  /**
   * Sums per bin of each listed feature over the rows of segments [from, to) into arena slot t, the hot loop of
   * training: see histogramKernel. `scale` is 1 / step for squared error's quantised gradients (see QUANT_LEVELS).
   */
  private histogram(t: number, from: number, to: number, rows: Uint32Array, c: number, scale: number): void {
    const { histLength, segments, packed } = this;
    const hist = this.arena.subarray(t * histLength, (t + 1) * histLength);
    hist.fill(0);
    const features = this.featureList.subarray(0, this.control[CTL_FEATURES]!);
    const key = features.join(',');
    let kernel = this.kernels.get(key);
    if (!kernel) {
      if (this.kernels.size >= MAX_KERNELS) this.kernels.clear();
      this.kernels.set(key, (kernel = histogramKernel(features, this.s)));
    }
    const g = this.gs[c]!;
    const h = this.hs[c] ?? null;
    for (let j = from; j < to; j++) kernel(hist, rows, segments[2 * j]!, segments[2 * j + 1]!, g, h, packed, scale);
    if (!h) for (let s = 0, slots = this.s.slots; s < slots; s++) hist[s]! += hist[slots + s]!;
  }

  /**
   * Partitions the rows of from[start, end) by one split into to[start, end): rows going left from the front in
   * order, rows going right from the back; returns how many went left. Every row is written at both cursors and only
   * the matching one moves (the other write lands where a later row goes): no data-dependent branch. Two rows a turn
   * (a fifth faster than one; four were slower); the last one left has l = r.
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
    let i = start;
    for (; i + 1 < end; i += 2) {
      const row = from[i]!;
      const row2 = from[i + 1]!;
      const v = bins[row]!;
      const v2 = bins[row2]!;
      const goLeft = goesLeft(v, bin, nanLeft, nanBin);
      const goLeft2 = goesLeft(v2, bin, nanLeft, nanBin);
      to[l] = row;
      to[r] = row;
      l += goLeft;
      r -= 1 - goLeft;
      to[l] = row2;
      to[r] = row2;
      l += goLeft2;
      r -= 1 - goLeft2;
    }
    if (i < end) {
      const row = from[i]!;
      const v = bins[row]!;
      const goLeft = goesLeft(v, bin, nanLeft, nanBin);
      to[l] = row;
      l += goLeft;
    }
    return l - start;
  }

  /** Records that the rows of rows[start, end) ended the tree in leaf `leaf`. */
  private mark(rows: Uint32Array, start: number, end: number, leaf: number): void {
    const { leafOf } = this;
    for (let i = start; i < end; i++) leafOf[rows[i]!] = leaf;
  }

  /** As mark, for a node whose split sends its rows to leaves `left` and `left + 1` (see partition). */
  private markSplit(
    rows: Uint32Array,
    start: number,
    end: number,
    feature: number,
    bin: number,
    nanLeft: number,
    left: number
  ): void {
    const { leafOf } = this;
    const bins = this.column(feature);
    const nanBin = this.s.numBins[feature]!;
    const right = left + 1;
    for (let i = start; i < end; i++) {
      const row = rows[i]!;
      const v = bins[row]!;
      const goLeft = goesLeft(v, bin, nanLeft, nanBin);
      leafOf[row] = right - goLeft;
    }
  }

  /**
   * Adds the tree's leaf values to rows [start, end) in row order (a zero value is not added, so a -0 score stays
   * -0). For squared error over every row, the row's gradient follows its score (CTL_FUSED), and the largest
   * |gradient| is returned.
   */
  private apply(raw: Float64Array, start: number, end: number): number {
    const { leafOf, nodeValues, y } = this;
    const g = this.gs[0]!;
    let largest = 0;
    if (this.control[CTL_FUSED] === 1) {
      for (let i = start; i < end; i++) {
        const value = nodeValues[leafOf[i]!]!;
        const gi = (g[i] = (value === 0 ? raw[i]! : (raw[i]! += value)) - y[i]!);
        largest = Math.max(largest, Math.abs(gi));
      }
    } else {
      for (let i = start; i < end; i++) {
        const value = nodeValues[leafOf[i]!]!;
        if (value !== 0) raw[i]! += value;
      }
    }
    return largest;
  }
}

/**
 * 1 when a row with bin v goes left at a split on `bin`: v <= bin, or v is the NaN bin and NaN goes left (bins are
 * < 256, so sign bits decide); 0 when it goes right. Arithmetic, not a branch that the data would mispredict.
 */
function goesLeft(v: number, bin: number, nanLeft: number, nanBin: number): number {
  return (1 + ((bin - v) >> 31)) | (nanLeft & (((v ^ nanBin) - 1) >>> 31));
}

/** Adds the rows rows[start, end) to a histogram; `scale` as for Kernels.histogram. */
type HistogramKernel = (
  hist: Float64Array,
  rows: Uint32Array,
  start: number,
  end: number,
  g: Float64Array,
  h: Float64Array | null,
  packed: Uint32Array,
  scale: number
) => void;

const MAX_KERNELS = 64;

/** Features per pass over a run of rows: enough additions in flight, few enough to keep the loop in registers. */
const KERNEL_FEATURES = 8;

/**
 * The histogram kernel of a feature list, written out as JavaScript and compiled, so that each feature's word, shift
 * and first slot are constants and each word of a row is read once: against the same loop reading them from
 * variables, a third of the time (Node 20). Bins come from `packed`, every row's bins side by side (`stride` words a
 * row, four bytes a word: feature f is byte f & 3 of word f >> 2), so a row's bins for all features share a cache
 * line. The source is built from numbers alone.
 *
 * With hessians, a histogram holds (g, count) pairs, slot s at 2 * s, then one hessian sum per slot from 2 * slots,
 * and rows are added in order. Without, one packed quantised gradient per slot (see QUANT_LEVELS), rows alternating
 * between two copies (the second from `slots`), so that runs of one bin make two chains of additions, not one; the
 * sums are integers, so the order does not change them.
 */
function histogramKernel(features: ArrayLike<number>, s: SharedRows): HistogramKernel {
  const { offsets, slots, stride, hessians } = s;
  const list = Array.from(features);
  const bin = (word: string, f: number): string => {
    const sh = (f & 3) << 3;
    if (sh === 24) return `(${word} >>> 24)`;
    return sh === 0 ? `(${word} & 255)` : `((${word} >>> ${sh}) & 255)`;
  };
  const words = (fs: number[], row: string, name: string): string =>
    [...new Set(fs.map((f) => f >> 2))].map((w) => `const ${name}${w} = packed[${row} + ${w}];`).join(' ');
  const passes: string[] = [];
  for (let j = 0; j < list.length; j += KERNEL_FEATURES) {
    const fs = list.slice(j, j + KERNEL_FEATURES);
    if (hessians) {
      const adds = fs.map((f) => {
        const at = `s${f}`;
        return `const ${at} = ${2 * offsets[f]!} + ${bin(`a${f >> 2}`, f)} * 2; hist[${at}] += gi; hist[${2 * slots} + (${at} >> 1)] += hi; hist[${at} + 1]++;`;
      });
      passes.push(`for (let i = start; i < end; i++) {
  const row = rows[i]; const p = row * ${stride}; const gi = g[row]; const hi = h[row];
  ${words(fs, 'p', 'a')}
  ${adds.join('\n  ')}
}`);
    } else {
      const one = (word: string, grad: string, copy: number) =>
        fs.map((f) => `hist[${copy + offsets[f]!} + ${bin(`${word}${f >> 2}`, f)}] += ${grad};`).join(' ');
      const quantised = (row: string) => `(g[${row}] * scale + ${ROUND} - ${ROUND}) * ${COUNT_SCALE} + 1`;
      passes.push(`{
  let i = start;
  for (; i + 1 < end; i += 2) {
    const ri = rows[i]; const rj = rows[i + 1]; const p = ri * ${stride}; const r = rj * ${stride};
    const gi = ${quantised('ri')}; const gj = ${quantised('rj')};
    ${words(fs, 'p', 'a')} ${words(fs, 'r', 'b')}
    ${one('a', 'gi', 0)}
    ${one('b', 'gj', slots)}
  }
  if (i < end) {
    const ri = rows[i]; const p = ri * ${stride}; const gi = ${quantised('ri')};
    ${words(fs, 'p', 'a')} ${one('a', 'gi', 0)}
  }
}`);
    }
  }
  return new Function(
    'hist',
    'rows',
    'start',
    'end',
    'g',
    'h',
    'packed',
    'scale',
    passes.join('\n')
  ) as HistogramKernel;
}
