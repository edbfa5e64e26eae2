import { once } from 'node:events';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { binMatrix, computeBinEdges } from './binning.js';
import { canonicalJson } from './canonical-json.js';
import {
  allocateShared,
  BUFFER_A,
  BUFFER_B,
  BUFFER_BASE,
  CHUNK,
  COUNT_SHIFT,
  CTL_CLASS,
  CTL_DONE,
  CTL_EXIT,
  CTL_FAILED,
  CTL_FEATURES,
  CTL_FUSED,
  CTL_GENERATION,
  CTL_HELPED,
  CTL_NEXT,
  Kernels,
  spinWhile,
  TASK_APPLY,
  TASK_GRADIENTS,
  TASK_HISTOGRAM,
  TASK_INTS,
  TASK_PARTITION,
  TASK_MARK,
  TASK_MARK_SPLIT,
  QUANT_LEVELS,
  addPacked,
} from './gbdt-kernels.js';
import { logLoss, rmse } from './metrics.js';
import { deriveSeed, mulberry32, sampleIndices } from './random.js';
import { checkFeatures, checkMatrix, checkTargets, inferNumClasses, MlInputError, TASKS } from './types.js';
import type { FeatureMatrix, Task } from './types.js';

/*
 * Histogram gradient-boosted trees, XGBoost's `hist` method. Each feature is cut into at most `bins` quantile bins
 * (plus one for NaN) once, as bytes. Trees grow depth-wise: a node's histogram of gradient and hessian sums per bin
 * gives every candidate split; the best has the largest XGBoost gain, NaN tried on both sides; leaves are Newton
 * steps -G/(H + lambda) times the learning rate. Only the smaller child's histogram is built from rows, the larger
 * is its parent minus it. Thresholds are stored as real values, so prediction reads raw features. The work over rows
 * (partitions, histograms, leaf values, gradients) is shared out to helper threads: see gbdt-kernels.ts.
 */

/** Training parameters; `defaultGbdtParams(task)` gives a working set. */
export interface GbdtParams {
  task: Task;
  /** Number of classes for multiclass; inferred as the largest class index + 1 when left out. */
  numClasses?: number;
  /** Boosting rounds; multiclass grows one tree per class per round. */
  rounds: number;
  /** Shrinkage applied to every leaf value. */
  learningRate: number;
  /** Maximum depth: 1 grows stumps. */
  maxDepth: number;
  /** Fewest training rows in a leaf (at least 1); a node with fewer than twice this is not split. */
  minDataInLeaf: number;
  /** L2 penalty on leaf values: a leaf is -sum(g) / (sum(h) + lambda). */
  lambda: number;
  /** Most value bins per feature, 2..255; one more bin holds NaN. */
  bins: number;
  /** Seeds bin sampling, row subsampling and feature sampling; the same seed gives the same model, byte for byte. */
  seed: number;
  /** Fraction of rows each round's trees see (one Bernoulli draw per row per round). @default 1 */
  subsample?: number;
  /** Fraction of features each tree may split on. @default 1 */
  featureFraction?: number;
}

/**
 * One tree as flat arrays indexed by node; node 0 is the root. A row goes left when its value is <= threshold,
 * and a NaN goes where defaultLeft says. Leaves have feature -1 and carry `value`, the learning rate included.
 */
export interface Tree {
  feature: number[];
  threshold: number[];
  defaultLeft: boolean[];
  left: number[];
  right: number[];
  value: number[];
}

/** Plain data: serialize with canonicalJson, load with JSON.parse. */
export interface GbdtModel {
  kind: 'gbdt';
  version: 1;
  /** Fully defaulted parameters. */
  params: GbdtParams;
  featureNames: string[];
  /** Per feature, the bin edges training used; kept so a resumed run bins exactly as the first one did. */
  binEdges: number[][];
  /** Raw score before any tree, per output: the mean (regression), log-odds of the mean (binary), log priors. */
  baseScore: number[];
  /** Round-major: trees[round * outputs + class]. */
  trees: Tree[];
}

export interface TrainGbdtOptions {
  /** A model from an earlier run with the same parameters (rounds may differ): training continues after it. */
  resumeFrom?: GbdtModel;
  /**
   * Called after each round with the number of rounds done so far (1 after the first) and the model so far, for
   * checkpoints; return 'stop' to end training there.
   */
  onRound?: (round: number, model: GbdtModel) => void | 'stop';
  /**
   * Threads building histograms and partitioning rows, this one included; the model is the same bytes whatever
   * the number. Capped so each helper thread gets at least two chunks of rows. @default os.availableParallelism()
   */
  threads?: number;
  /** Filled in when training ends: the threads used and how the tasks were shared out. */
  stats?: GbdtThreadStats;
}

export interface GbdtThreadStats {
  threads: number;
  /** Tasks run (partitions, histograms, leaf values, gradients) and how many of them helper threads ran. */
  tasks: number;
  helperTasks: number;
}

const ROUND_STREAM = 0x726f756e;
/** A split must beat the parent's score by this relative margin, so rounding noise never grows a tree. */
const GAIN_TOLERANCE = 1e-12;
const PROBABILITY_CLIP = 1e-15;

export function defaultGbdtParams(task: Task): GbdtParams {
  return {
    task,
    rounds: 100,
    learningRate: 0.1,
    maxDepth: 6,
    minDataInLeaf: 20,
    lambda: 1,
    bins: 255,
    seed: 0,
    subsample: 1,
    featureFraction: 1,
  };
}

function fail(field: string, message: string): never {
  throw new MlInputError(`${field} ${message}`, field);
}

function resolveParams(params: GbdtParams, y: Float64Array): GbdtParams {
  const { task } = params;
  if (!TASKS.includes(task)) fail('task', `must be one of ${TASKS.join(', ')}`);
  const integer = (field: keyof GbdtParams, value: number, min: number, max = Number.MAX_SAFE_INTEGER): number => {
    if (!Number.isInteger(value) || value < min || value > max) fail(field, `must be an integer in [${min}, ${max}]`);
    return value;
  };
  const fraction = (field: keyof GbdtParams, value: number | undefined): number => {
    const v = value ?? 1;
    if (!(v > 0 && v <= 1)) fail(field, 'must be in (0, 1]');
    return v;
  };
  if (!(params.learningRate > 0 && Number.isFinite(params.learningRate))) fail('learningRate', 'must be positive');
  if (!(params.lambda >= 0 && Number.isFinite(params.lambda))) fail('lambda', 'must be >= 0');
  if (!Number.isSafeInteger(params.seed)) fail('seed', 'must be a safe integer');
  const resolved: GbdtParams = {
    task,
    rounds: integer('rounds', params.rounds, 0),
    learningRate: params.learningRate,
    maxDepth: integer('maxDepth', params.maxDepth, 1, 64),
    minDataInLeaf: integer('minDataInLeaf', params.minDataInLeaf, 1),
    lambda: params.lambda,
    bins: integer('bins', params.bins, 2, 255),
    seed: params.seed,
    subsample: fraction('subsample', params.subsample),
    featureFraction: fraction('featureFraction', params.featureFraction),
  };
  if (task === 'multiclass') resolved.numClasses = integer('numClasses', params.numClasses ?? inferNumClasses(y), 2);
  return resolved;
}

/** Raw scores per row: 1 for regression and binary, k for multiclass. */
function outputsOf(params: GbdtParams): number {
  return params.task === 'multiclass' ? params.numClasses! : 1;
}

function baseScoreOf(task: Task, y: Float64Array, k: number): number[] {
  const n = y.length;
  if (task === 'multiclass') {
    const counts = new Float64Array(k);
    for (let i = 0; i < n; i++) counts[y[i]!]!++;
    return Array.from(counts, (c) => Math.log(Math.max(c / n, PROBABILITY_CLIP)));
  }
  let sum = 0;
  for (let i = 0; i < n; i++) sum += y[i]!;
  const mean = sum / n;
  if (task === 'regression') return [mean];
  const p = Math.min(Math.max(mean, PROBABILITY_CLIP), 1 - PROBABILITY_CLIP);
  return [Math.log(p / (1 - p))];
}

interface GrowNode {
  id: number;
  /** Where the node's rows are: (start, end) pairs in the buffer of its level. */
  segments: number[];
  sumG: number;
  sumH: number;
  count: number;
  /** (g, count) pairs then hessians per slot (see gbdt-kernels.ts); null when the node will not be split. */
  hist: Float64Array | null;
}

interface Split {
  feature: number;
  bin: number;
  missingLeft: boolean;
  gl: number;
  hl: number;
  cl: number;
}

interface TrainingTree extends Tree {
  /** The bin each split compares against (bin <= splitBin goes left), for routing rows that were not sampled. */
  splitBin: number[];
}

/** A node split this level whose children are split further: its rows are partitioned, its children get histograms. */
interface Parting {
  node: GrowNode;
  left: GrowNode;
  right: GrowNode;
  /** The node's partition tasks, one per segment, from index `first` of the run. */
  first: number;
}

const HELPER = new URL('./gbdt-helper-entry.mjs', import.meta.url);

/**
 * The growing thread's side of the task protocol in gbdt-kernels.ts: queues tasks, publishes them in batches, works
 * on them alongside the helper threads and waits for the last one. With no helpers it runs every task itself.
 */
class Crew {
  private readonly ints: number[] = [];
  private readonly vals: number[] = [];
  /** Per task of the last run, what it returned (see SharedRows.results). */
  readonly results: number[] = [];
  /** Tasks run so far. */
  tasks = 0;

  /** `helpers` from spawnHelpers: they get the shared rows now and work on every batch from here on. */
  constructor(
    readonly kernels: Kernels,
    private readonly helpers: Worker[]
  ) {
    for (const helper of helpers) helper.postMessage(kernels.s);
  }

  get queued(): number {
    return this.ints.length / TASK_INTS;
  }

  queue(kind: number, start: number, end: number, a = 0, b = 0, c = 0, d = 0, e = 0, v0 = 0, v1 = 0): void {
    this.ints.push(kind, start, end, a, b, c, d, e);
    this.vals.push(v0, v1);
  }

  /**
   * Runs every queued task, `capacity` at a time; after each batch, `afterBatch(from, to)` reads its results (task j
   * of the batch wrote arena slot j - from).
   */
  run(afterBatch?: (from: number, to: number) => void): void {
    const total = this.queued;
    const { kernels } = this;
    const { tasks, values, results, control } = kernels;
    this.results.length = 0;
    for (let from = 0; from < total; from += kernels.s.capacity) {
      const to = Math.min(total, from + kernels.s.capacity);
      const size = to - from;
      for (let j = 0; j < size * TASK_INTS; j++) tasks[j] = this.ints[from * TASK_INTS + j]!;
      for (let j = 0; j < 2 * size; j++) values[j] = this.vals[2 * from + j]!;
      Atomics.store(control, CTL_DONE, 0);
      Atomics.store(control, CTL_NEXT, size << COUNT_SHIFT);
      if (this.helpers.length > 0) {
        Atomics.add(control, CTL_GENERATION, 1);
        Atomics.notify(control, CTL_GENERATION);
      }
      kernels.work(false);
      this.tasks += size;
      for (let d = Atomics.load(control, CTL_DONE); d < size; d = Atomics.load(control, CTL_DONE)) {
        if (Atomics.load(control, CTL_FAILED) === 1) throw new Error('a GBDT helper thread failed; see its error');
        spinWhile(control, CTL_DONE, d);
        Atomics.wait(control, CTL_DONE, d, 1000);
      }
      for (let j = 0; j < size; j++) this.results.push(results[j]!);
      afterBatch?.(from, to);
    }
    this.ints.length = 0;
    this.vals.length = 0;
  }

  /** Tells the helpers this training is over and returns them to the pool; returns what the threads did. */
  close(): GbdtThreadStats {
    const { control } = this.kernels;
    const stats = { threads: this.helpers.length + 1, tasks: this.tasks, helperTasks: control[CTL_HELPED]! };
    if (this.helpers.length === 0) return stats;
    Atomics.store(control, CTL_EXIT, 1);
    Atomics.add(control, CTL_GENERATION, 1);
    Atomics.notify(control, CTL_GENERATION);
    if (Atomics.load(control, CTL_FAILED) === 0) idleHelpers.push(...this.helpers);
    return stats;
  }
}

/** Helper threads of trainings that ended, kept for the next one in this thread (they do not keep a process alive). */
const idleHelpers: Worker[] = [];

/**
 * `count` helper threads: idle ones first, then new ones, started before the rows are binned so that their
 * start-up (a fifth of a second) overlaps it. A helper that fails to start only leaves its share to the others; one
 * that fails mid-task says so in shared memory (CTL_FAILED).
 */
function spawnHelpers(count: number): Worker[] {
  const helpers = idleHelpers.splice(0, count);
  while (helpers.length < count) helpers.push(newHelper());
  return helpers;
}

function newHelper(): Worker {
  const worker = new Worker(HELPER);
  worker.on('error', () => undefined);
  worker.unref();
  return worker;
}

/**
 * Starts helper threads ahead of training, until `count` are idle and running: a training that would otherwise
 * finish before its new helpers are up (they take a fifth of a second to start) then shares its work out.
 */
export async function startGbdtHelpers(count: number): Promise<void> {
  const started = Array.from({ length: Math.max(0, count - idleHelpers.length) }, newHelper);
  await Promise.all(started.map((worker) => once(worker, 'message')));
  idleHelpers.push(...started);
}

function sumAt(values: Float64Array, rows: Uint32Array, count: number): number {
  let sum = 0;
  for (let i = 0; i < count; i++) sum += values[rows[i]!]!;
  return sum;
}

/**
 * Grows trees on binned data, a level at a time. The root's rows are the base buffer's first rowCount; partitioning
 * a level's nodes writes their children's rows to the other row buffer, so each node owns segments of its level's
 * buffer. Only the smaller child's histogram is built; the larger one is the parent minus it. Partitions,
 * histograms and leaf values are tasks (see Crew); split finding stays on this thread.
 */
class TreeGrower {
  private readonly pool: Float64Array[] = [];
  private readonly minData: number;
  /**
   * Squared error: the largest |gradient| of the rows, which the last gradient or leaf-value tasks returned, and the
   * gradient one quantisation level stands for in this tree's histograms (see QUANT_LEVELS); 1 with hessians, whose
   * histograms hold gradients as they are.
   */
  largestGradient = 0;
  private gScale = 1;

  constructor(
    private readonly crew: Crew,
    private readonly edges: number[][],
    private readonly params: GbdtParams
  ) {
    this.minData = params.minDataInLeaf;
  }

  /**
   * Grows one tree for output `c` on the base buffer's first rowCount rows and adds its leaf values to the output's
   * raw scores: directly per leaf when every row was in the tree, by routing all rows through the binned tree
   * otherwise.
   */
  grow(rowCount: number, features: Uint32Array, c: number): Tree {
    const { params, minData, crew } = this;
    const { kernels } = crew;
    const { control } = kernels;
    const { maxDepth, lambda, learningRate } = params;
    const raw = kernels.raw(c);
    const hessians = kernels.hessians(c);
    control[CTL_CLASS] = c;
    control[CTL_FEATURES] = features.length;
    kernels.featureList.set(features);
    const everyRow = rowCount === raw.length;
    if (!hessians) this.gScale = this.largestGradient / QUANT_LEVELS;
    const tree: TrainingTree = {
      feature: [],
      threshold: [],
      defaultLeft: [],
      left: [],
      right: [],
      value: [],
      splitBin: [],
    };
    const addNode = (): number => {
      tree.feature.push(-1);
      tree.threshold.push(0);
      tree.defaultLeft.push(false);
      tree.left.push(-1);
      tree.right.push(-1);
      tree.value.push(0);
      tree.splitBin.push(0);
      return tree.feature.length - 1;
    };
    const leafValue = (node: GrowNode): number => {
      const denominator = node.sumH + lambda;
      const value = denominator > 0 && node.count > 0 ? (-node.sumG / denominator) * learningRate + 0 : 0;
      tree.value[node.id] = value;
      return value;
    };
    let buffer = BUFFER_BASE;
    const { nodeValues } = kernels;
    /** Queues marking the rows of `node` (of this level) as ending the tree in `leaf`, or as split by `split`. */
    const mark = (node: GrowNode, split?: { feature: number; bin: number; nanLeft: number; left: number }): void => {
      if (!everyRow) return;
      const { segments } = node;
      for (let j = 0; j < segments.length; j += 2) {
        const [start, end] = [segments[j]!, segments[j + 1]!];
        if (split) crew.queue(TASK_MARK_SPLIT, start, end, buffer, split.feature, split.bin, split.nanLeft, split.left);
        else crew.queue(TASK_MARK, start, end, buffer, node.id);
      }
    };
    const makeLeaf = (node: GrowNode): void => {
      if (node.hist) this.release(node.hist);
      nodeValues[node.id] = leafValue(node);
      mark(node);
    };

    const base = kernels.buffers[BUFFER_BASE]!;
    const segments: number[] = [];
    for (let s = 0; s < rowCount; s += CHUNK) segments.push(s, Math.min(rowCount, s + CHUNK));
    const sumH = hessians ? 0 : rowCount;
    const root: GrowNode = { id: addNode(), segments, sumG: 0, sumH, count: rowCount, hist: null };
    if (rowCount >= 2 * minData) {
      const hist = this.buildHistograms([root], buffer)[0]!;
      // Every row is in exactly one bin of each feature: the root's sums are the first feature's bins added up.
      const f = features[0]!;
      const { offsets, numBins, slots } = kernels.s;
      for (let s = offsets[f]!; s <= offsets[f]! + numBins[f]!; s++) {
        root.sumG += hist[2 * s]! * this.gScale;
        if (hessians) root.sumH += hist[2 * slots + s]!;
      }
    } else {
      root.sumG = sumAt(kernels.gradients(c), base, rowCount);
      if (hessians) root.sumH = sumAt(hessians, base, rowCount);
    }
    let level = [root];
    for (let depth = 0; depth < maxDepth && level.length > 0; depth++) {
      const next: GrowNode[] = [];
      const partings: Parting[] = [];
      const target = buffer === BUFFER_A ? BUFFER_B : BUFFER_A;
      for (const node of level) {
        const split = node.hist ? this.findSplit(node, node.hist, features, hessians !== null) : undefined;
        if (!split) {
          makeLeaf(node);
          continue;
        }
        const nanBin = kernels.s.numBins[split.feature]!;
        const defaultLeft =
          split.missingLeft ||
          (node.hist![(kernels.s.offsets[split.feature]! + nanBin) * 2 + 1] === 0 && split.cl >= node.count - split.cl);
        const deeper = depth + 1 < maxDepth;
        const cr = node.count - split.cl;
        // Children too small or too deep to split are leaves: their rows need not be partitioned.
        const splitChildren = deeper && (split.cl >= 2 * minData || cr >= 2 * minData);
        const leftId = addNode();
        const rightId = addNode();
        const edges = this.edges[split.feature]!;
        tree.feature[node.id] = split.feature;
        tree.threshold[node.id] = split.bin < edges.length ? edges[split.bin]! : Number.MAX_VALUE;
        tree.defaultLeft[node.id] = defaultLeft;
        tree.left[node.id] = leftId;
        tree.right[node.id] = rightId;
        tree.splitBin[node.id] = split.bin;
        const child = (id: number, sumG: number, sumH: number, count: number): GrowNode => ({
          id,
          segments: [],
          sumG,
          sumH,
          count,
          hist: null,
        });
        const left = child(leftId, split.gl, split.hl, split.cl);
        const right = child(rightId, node.sumG - split.gl, node.sumH - split.hl, cr);
        const nanLeft = defaultLeft ? 1 : 0;
        const { segments } = node;
        if (splitChildren) {
          partings.push({ node, left, right, first: crew.queued });
          for (let j = 0; j < segments.length; j += 2) {
            const [start, end] = [segments[j]!, segments[j + 1]!];
            crew.queue(TASK_PARTITION, start, end, split.feature, split.bin, nanLeft, buffer, target);
          }
          continue;
        }
        this.release(node.hist!);
        nodeValues[leftId] = leafValue(left);
        nodeValues[rightId] = leafValue(right);
        mark(node, { feature: split.feature, bin: split.bin, nanLeft, left: leftId });
      }
      crew.run();
      if (partings.length > 0) {
        this.place(partings);
        this.childHistograms(partings, target);
        for (const { left, right } of partings) next.push(left, right);
      }
      level = next;
      buffer = target;
    }
    for (const node of level) makeLeaf(node);
    crew.run();
    if (everyRow) {
      for (let s = 0; s < rowCount; s += CHUNK) crew.queue(TASK_APPLY, s, Math.min(rowCount, s + CHUNK));
      crew.run();
      this.largestGradient = Math.max(0, ...crew.results);
    } else this.route(tree, raw);
    return {
      feature: tree.feature,
      threshold: tree.threshold,
      defaultLeft: tree.defaultLeft,
      left: tree.left,
      right: tree.right,
      value: tree.value,
    };
  }

  /** After the partition tasks ran, the children's segments: each parent segment's left rows, then its right rows. */
  private place(partings: Parting[]): void {
    const { results } = this.crew;
    for (const { node, left, right, first } of partings) {
      const { segments } = node;
      let sent = 0;
      for (let j = 0; j < segments.length; j += 2) {
        const [start, end] = [segments[j]!, segments[j + 1]!];
        const mid = start + results[first + j / 2]!;
        if (mid > start) left.segments.push(start, mid);
        if (end > mid) right.segments.push(mid, end);
        sent += mid - start;
      }
      if (sent !== left.count) throw new Error(`GBDT: a partition sent ${sent} rows left, expected ${left.count}`);
    }
  }

  private acquire(): Float64Array {
    return this.pool.pop() ?? new Float64Array(this.crew.kernels.histLength);
  }

  private release(hist: Float64Array): void {
    this.pool.push(hist);
  }

  /**
   * Histograms for the children that may split: the smaller one built from rows, the larger by subtraction (its
   * parent's histogram becomes it). A child too small to split gets none.
   */
  private childHistograms(partings: Parting[], buffer: number): void {
    const { minData } = this;
    const pairs = partings.map(({ node, left, right }) => {
      const needLeft = left.count >= 2 * minData;
      const needRight = right.count >= 2 * minData;
      const [small, large, needSmall, needLarge] =
        left.count <= right.count ? [left, right, needLeft, needRight] : [right, left, needRight, needLeft];
      return { parent: node.hist!, small, large, needSmall, needLarge };
    });
    this.buildHistograms(
      pairs.map((p) => p.small),
      buffer
    );
    const { slots } = this.crew.kernels.s;
    const hasH = this.crew.kernels.histLength > 2 * slots;
    const hOff = 2 * slots;
    for (const { parent, small, large, needSmall, needLarge } of pairs) {
      const smallHist = small.hist!;
      if (!needLarge) {
        this.release(parent);
        continue;
      }
      for (let s = 0; s < slots; s++) {
        const count = parent[2 * s + 1]! - smallHist[2 * s + 1]!;
        // An empty bin gets exact zeros, not rounding residue, so equal splits tie exactly and the lowest bin wins.
        parent[2 * s] = count === 0 ? 0 : parent[2 * s]! - smallHist[2 * s]!;
        parent[2 * s + 1] = count;
        if (hasH) parent[hOff + s] = count === 0 ? 0 : parent[hOff + s]! - smallHist[hOff + s]!;
      }
      large.hist = parent;
      if (!needSmall) {
        this.release(smallHist);
        small.hist = null;
      }
    }
  }

  /**
   * Builds the histograms of `nodes` from their rows in `buffer`: one task per run of whole segments of at most CHUNK
   * rows (a segment never has more), the runs' sums then added up in order, so the sums depend on the segments
   * alone, never on which thread built which run.
   */
  private buildHistograms(nodes: GrowNode[], buffer: number): Float64Array[] {
    const { crew } = this;
    const { arena, histLength, segments: shared, s } = crew.kernels;
    const scale = this.gScale > 0 ? 1 / this.gScale : 0;
    const targets: { hist: Float64Array; first: boolean }[] = [];
    let at = 0;
    for (const node of nodes) {
      const hist = this.acquire();
      hist.fill(0);
      node.hist = hist;
      const { segments } = node;
      for (let j = 0, first = true; j < segments.length; first = false) {
        const from = at;
        let rows = 0;
        do {
          rows += segments[j + 1]! - segments[j]!;
          shared[2 * at] = segments[j]!;
          shared[2 * at + 1] = segments[j + 1]!;
          at++;
          j += 2;
        } while (j < segments.length && rows + segments[j + 1]! - segments[j]! <= CHUNK);
        crew.queue(TASK_HISTOGRAM, from, at, buffer, 0, 0, 0, 0, scale);
        targets.push({ hist, first });
      }
    }
    crew.run((from, to) => {
      for (let t = from; t < to; t++) {
        const { hist, first } = targets[t]!;
        const chunk = arena.subarray((t - from) * histLength, (t - from + 1) * histLength);
        if (!s.hessians) addPacked(hist, chunk, s.slots, first);
        else if (first) hist.set(chunk);
        else for (let j = 0; j < histLength; j++) hist[j]! += chunk[j]!;
      }
    });
    return nodes.map((node) => node.hist!);
  }

  /**
   * The best split of a node: features in ascending order, bins ascending, NaN right before NaN left, and a
   * candidate replaces the best only when strictly better, so ties go to the lowest feature, then the lowest bin.
   * Candidate bin b sends bins 0..b left; b = last value bin with NaN right splits missing from present.
   */
  private findSplit(node: GrowNode, hist: Float64Array, features: Uint32Array, hasH: boolean): Split | undefined {
    const { lambda } = this.params;
    const { s } = this.crew.kernels;
    const hOff = 2 * s.slots;
    const { minData } = this;
    const G = node.sumG;
    const H = node.sumH;
    const C = node.count;
    const q = this.gScale;
    const parentScore = (G * G) / (H + lambda);
    let bestScore = parentScore + GAIN_TOLERANCE * Math.abs(parentScore);
    let best: Split | undefined;
    for (let j = 0; j < features.length; j++) {
      const f = features[j]!;
      const base = s.offsets[f]!;
      const nb = s.numBins[f]!;
      const nanSlot = base + nb;
      const gN = hist[2 * nanSlot]! * q;
      const cN = hist[2 * nanSlot + 1]!;
      const hN = hasH ? hist[hOff + nanSlot]! : cN;
      let gl = 0;
      let hl = 0;
      let cl = 0;
      for (let b = 0; b < nb; b++) {
        const s = base + b;
        const c = hist[2 * s + 1]!;
        if (c === 0) continue;
        gl += hist[2 * s]! * q;
        hl += hasH ? hist[hOff + s]! : c;
        cl += c;
        // NaN right.
        if (cl >= minData && C - cl >= minData) {
          const dl = hl + lambda;
          const dr = H - hl + lambda;
          if (dl > 0 && dr > 0) {
            const gr = G - gl;
            const score = (gl * gl) / dl + (gr * gr) / dr;
            if (score > bestScore) {
              bestScore = score;
              best = { feature: f, bin: b, missingLeft: false, gl, hl, cl };
            }
          }
        }
        // NaN left.
        if (cN > 0 && b < nb - 1) {
          const cl2 = cl + cN;
          if (cl2 >= minData && C - cl2 >= minData) {
            const gl2 = gl + gN;
            const hl2 = hl + hN;
            const dl = hl2 + lambda;
            const dr = H - hl2 + lambda;
            if (dl > 0 && dr > 0) {
              const gr = G - gl2;
              const score = (gl2 * gl2) / dl + (gr * gr) / dr;
              if (score > bestScore) {
                bestScore = score;
                best = { feature: f, bin: b, missingLeft: true, gl: gl2, hl: hl2, cl: cl2 };
              }
            }
          }
        }
      }
    }
    return best;
  }

  /** Adds the tree's leaf values to every row by routing binned rows, for rounds that subsampled rows. */
  private route(tree: TrainingTree, raw: Float64Array): void {
    const { feature, splitBin, defaultLeft, left, right, value } = tree;
    const nanRight = defaultLeft.map((d) => (d ? 0 : 1));
    const { kernels } = this.crew;
    const { numBins } = kernels.s;
    const columns = feature.map((f) => (f >= 0 ? kernels.column(f) : null));
    for (let i = 0; i < raw.length; i++) {
      let node = 0;
      for (let f = feature[0]!; f >= 0; f = feature[node]!) {
        const v = columns[node]![i]!;
        const goRight = v === numBins[f]! ? nanRight[node]! : v > splitBin[node]!;
        node = goRight ? right[node]! : left[node]!;
      }
      raw[i]! += value[node]!;
    }
  }
}

/**
 * A tree as typed arrays for routing many rows at once. `child[2 * node + 1]` is the right child, so a step is
 * arithmetic rather than a branch, and a leaf is its own child on both sides (splitting on feature 0), so every
 * row can take exactly `depth` steps with no test for having arrived.
 */
interface CompiledTree {
  depth: number;
  /** One more than the largest feature index used. */
  features: number;
  feature: Int32Array;
  threshold: Float64Array;
  nanRight: Int32Array;
  child: Int32Array;
  value: Float64Array;
}

const compiledTrees = new WeakMap<Tree, CompiledTree>();

function compile(tree: Tree): CompiledTree {
  let compiled = compiledTrees.get(tree);
  if (compiled) return compiled;
  const size = tree.feature.length;
  const feature = new Int32Array(size);
  const child = new Int32Array(2 * size);
  const nodeDepth = new Int32Array(size);
  let depth = 0;
  let features = 0;
  for (let node = 0; node < size; node++) {
    const isLeaf = tree.feature[node]! < 0;
    features = Math.max(features, tree.feature[node]! + 1);
    feature[node] = isLeaf ? 0 : tree.feature[node]!;
    child[2 * node] = isLeaf ? node : tree.left[node]!;
    child[2 * node + 1] = isLeaf ? node : tree.right[node]!;
    if (!isLeaf) {
      const [l, r] = [tree.left[node]!, tree.right[node]!];
      if (!(l > node && r > node && l < size && r < size)) {
        throw new MlInputError(`tree node ${node} has children ${tree.left[node]}, ${tree.right[node]}`, 'trees');
      }
      nodeDepth[tree.left[node]!] = nodeDepth[tree.right[node]!] = nodeDepth[node]! + 1;
      depth = Math.max(depth, nodeDepth[node]! + 1);
    }
  }
  compiled = {
    depth,
    features,
    feature,
    threshold: Float64Array.from(tree.threshold),
    nanRight: Int32Array.from(tree.defaultLeft, (d) => (d ? 0 : 1)),
    child,
    value: Float64Array.from(tree.value),
  };
  compiledTrees.set(tree, compiled);
  return compiled;
}

const ROUTE_BLOCK = 256;

/** A model's trees compiled, in order, with the most features any of them reads. */
interface CompiledModel {
  /** The `trees` array compiled and its length then: a model whose list changed is compiled again. */
  source: Tree[];
  length: number;
  trees: CompiledTree[];
  features: number;
  /**
   * Every tree in one set of arrays, for routing one row: tree t starts at node `root[t]` and takes `depth[t]` steps;
   * `child` holds node indices into these arrays.
   */
  flat: {
    root: Int32Array;
    depth: Int32Array;
    feature: Int32Array;
    threshold: Float64Array;
    nanRight: Int32Array;
    child: Int32Array;
    value: Float64Array;
  };
}

const compiledModels = new WeakMap<GbdtModel, CompiledModel>();

/**
 * The compiled trees of a model, compiled once per model (online serving scores one row at a time). Models are plain
 * data that do not change once predicted with; a tree list that was replaced or grew is compiled again.
 */
function compileModel(model: GbdtModel): CompiledModel {
  const cached = compiledModels.get(model);
  if (cached && cached.source === model.trees && cached.length === model.trees.length) return cached;
  const trees = model.trees.map(compile);
  let features = 0;
  let size = 0;
  for (const tree of trees) {
    features = Math.max(features, tree.features);
    size += tree.feature.length;
  }
  const flat: CompiledModel['flat'] = {
    root: new Int32Array(trees.length),
    depth: new Int32Array(trees.length),
    feature: new Int32Array(size),
    threshold: new Float64Array(size),
    nanRight: new Int32Array(size),
    child: new Int32Array(2 * size),
    value: new Float64Array(size),
  };
  let offset = 0;
  trees.forEach((tree, t) => {
    flat.root[t] = offset;
    flat.depth[t] = tree.depth;
    flat.feature.set(tree.feature, offset);
    flat.threshold.set(tree.threshold, offset);
    flat.nanRight.set(tree.nanRight, offset);
    flat.value.set(tree.value, offset);
    for (let i = 0; i < tree.child.length; i++) flat.child[2 * offset + i] = tree.child[i]! + offset;
    offset += tree.feature.length;
  });
  const compiled: CompiledModel = { source: model.trees, length: trees.length, trees, features, flat };
  compiledModels.set(model, compiled);
  return compiled;
}

/**
 * Raw scores for every row: base score plus every tree, added in tree order. Rows go a block at a time: the block
 * is copied row-major, then each tree routes the whole block one level per pass, so the steps of different rows
 * overlap instead of waiting on each other. A single row (online serving) is routed straight from its columns:
 * the same comparisons and the same additions in the same order, so the same numbers bit for bit.
 */
function rawScores(model: GbdtModel, columns: Float64Array[], rows: number): Float64Array[] {
  const k = outputsOf(model.params);
  const raw = model.baseScore.map((b) => new Float64Array(rows).fill(b));
  if (raw.length !== k) throw new MlInputError(`baseScore has ${raw.length} entries, expected ${k}`, 'baseScore');
  const { trees, features, flat } = compileModel(model);
  const width = columns.length;
  if (features > width) {
    const t = trees.findIndex((tree) => tree.features > width);
    throw new MlInputError(`tree ${t} splits on feature ${trees[t]!.features - 1}`, 'trees');
  }
  if (rows === 1) {
    // Values are read from the columns as they stand: a row copied into a JS array would box every value read.
    const { root, depth, feature, threshold, nanRight, child, value } = flat;
    const n = root.length;
    let t = 0;
    // Four trees at a time: their steps do not wait on each other. A leaf is its own child, so the extra steps of
    // a shallower tree stay at its leaf; leaf values are added in tree order as below.
    for (; t + 4 <= n; t += 4) {
      let a = root[t]!;
      let b = root[t + 1]!;
      let c = root[t + 2]!;
      let e = root[t + 3]!;
      for (let d = Math.max(depth[t]!, depth[t + 1]!, depth[t + 2]!, depth[t + 3]!); d > 0; d--) {
        const xa = columns[feature[a]!]![0]!;
        const xb = columns[feature[b]!]![0]!;
        const xc = columns[feature[c]!]![0]!;
        const xe = columns[feature[e]!]![0]!;
        a = child[2 * a + (+(xa > threshold[a]!) | (+(xa !== xa) & nanRight[a]!))]!;
        b = child[2 * b + (+(xb > threshold[b]!) | (+(xb !== xb) & nanRight[b]!))]!;
        c = child[2 * c + (+(xc > threshold[c]!) | (+(xc !== xc) & nanRight[c]!))]!;
        e = child[2 * e + (+(xe > threshold[e]!) | (+(xe !== xe) & nanRight[e]!))]!;
      }
      raw[t % k]![0]! += value[a]!;
      raw[(t + 1) % k]![0]! += value[b]!;
      raw[(t + 2) % k]![0]! += value[c]!;
      raw[(t + 3) % k]![0]! += value[e]!;
    }
    for (; t < n; t++) {
      let node = root[t]!;
      for (let d = depth[t]!; d > 0; d--) {
        const x = columns[feature[node]!]![0]!;
        node = child[2 * node + (+(x > threshold[node]!) | (+(x !== x) & nanRight[node]!))]!;
      }
      raw[t % k]![0]! += value[node]!;
    }
    return raw;
  }
  const size = Math.min(rows, ROUTE_BLOCK);
  const block = new Float64Array(size * width);
  const nodes = new Int32Array(size);
  for (let start = 0; start < rows; start += ROUTE_BLOCK) {
    const count = Math.min(ROUTE_BLOCK, rows - start);
    for (let f = 0; f < width; f++) {
      const column = columns[f]!;
      for (let j = 0; j < count; j++) block[j * width + f] = column[start + j]!;
    }
    for (let t = 0; t < trees.length; t++) {
      const { depth, feature, threshold, nanRight, child, value } = trees[t]!;
      nodes.fill(0, 0, count);
      for (let d = 0; d < depth; d++) {
        for (let j = 0; j < count; j++) {
          const node = nodes[j]!;
          const x = block[j * width + feature[node]!]!;
          // x > threshold goes right; NaN compares false, so it goes right only when its default is right.
          nodes[j] = child[2 * node + (+(x > threshold[node]!) | (+(x !== x) & nanRight[node]!))]!;
        }
      }
      const out = raw[t % k]!;
      for (let j = 0; j < count; j++) out[start + j]! += value[nodes[j]!]!;
    }
  }
  return raw;
}

/** Raw scores to predictions: the value, P(class 1), or row-major class probabilities (rows × k). */
function transform(task: Task, raw: Float64Array[]): Float64Array {
  const r0 = raw[0]!;
  if (task === 'regression') return r0;
  if (task === 'binary') return r0.map((r) => 1 / (1 + Math.exp(-r)));
  const k = raw.length;
  const n = r0.length;
  const out = new Float64Array(n * k);
  for (let i = 0; i < n; i++) {
    let max = -Infinity;
    for (let c = 0; c < k; c++) max = Math.max(max, raw[c]![i]!);
    let sum = 0;
    for (let c = 0; c < k; c++) sum += out[i * k + c] = Math.exp(raw[c]![i]! - max);
    for (let c = 0; c < k; c++) out[i * k + c]! /= sum;
  }
  return out;
}

function checkResume(resume: GbdtModel, params: GbdtParams, x: FeatureMatrix, k: number): void {
  if (resume.kind !== 'gbdt' || resume.version !== 1)
    throw new MlInputError('resumeFrom is not a version 1 GBDT model');
  const { rounds: _a, ...want } = params;
  const { rounds: _b, ...have } = resume.params;
  if (canonicalJson(want) !== canonicalJson(have)) {
    throw new MlInputError(
      `resumeFrom was trained with ${canonicalJson(have)}, this run has ${canonicalJson(want)}`,
      'resumeFrom'
    );
  }
  if (canonicalJson(resume.featureNames) !== canonicalJson(x.names) || resume.binEdges.length !== x.columns.length) {
    throw new MlInputError('resumeFrom was trained on different features', 'resumeFrom');
  }
  if (resume.trees.length % k !== 0 || resume.trees.length > params.rounds * k) {
    throw new MlInputError(`resumeFrom has ${resume.trees.length} trees, not whole rounds of at most ${params.rounds}`);
  }
}

/** Most nodes a tree can have: a full tree of its depth, or two per leaf of at least minDataInLeaf rows. */
function maxNodes(p: GbdtParams, rows: number): number {
  return Math.min(2 ** (p.maxDepth + 1) - 1, 2 * Math.floor(rows / p.minDataInLeaf) + 1);
}

/**
 * Trains a gradient-boosted tree ensemble. Deterministic: each round draws its randomness from (seed, round), so a
 * run resumed from a checkpoint taken by `onRound` ends byte-identical (in canonicalJson) to an uninterrupted run.
 */
export function trainGbdt(
  x: FeatureMatrix,
  y: Float64Array,
  params: GbdtParams,
  options: TrainGbdtOptions = {}
): GbdtModel {
  checkMatrix(x);
  const p = resolveParams(params, y);
  checkTargets(y, x.rows, p.task, p.numClasses);
  if (x.rows === 0) throw new MlInputError('no training rows', 'rows');
  if (x.columns.length === 0) throw new MlInputError('no features', 'columns');
  const n = x.rows;
  const k = outputsOf(p);
  const resume = options.resumeFrom;
  if (resume) checkResume(resume, p, x, k);
  const threads = Math.max(1, Math.floor(options.threads ?? availableParallelism()));
  // Helpers only where each gets at least two chunks of rows; started first, so they start while the rows are binned.
  const startRound = resume ? resume.trees.length / k : 0;
  const helpers = startRound < p.rounds ? spawnHelpers(Math.min(threads - 1, Math.floor(n / (2 * CHUNK)))) : [];
  const binEdges = resume ? resume.binEdges : computeBinEdges(x, p.bins, p.seed);
  const baseScore = resume ? resume.baseScore : baseScoreOf(p.task, y, k);
  const trees: Tree[] = resume ? resume.trees.slice() : [];
  const snapshot = (): GbdtModel => ({
    kind: 'gbdt',
    version: 1,
    params: { ...p },
    featureNames: [...x.names],
    binEdges,
    baseScore,
    trees: trees.slice(),
  });
  if (startRound >= p.rounds) return snapshot();

  const crew = new Crew(
    new Kernels(
      allocateShared(
        p.task,
        k,
        binMatrix(x, binEdges),
        binEdges.map((e) => e.length + 1),
        y,
        maxNodes(p, n)
      )
    ),
    helpers
  );
  try {
    const initial = rawScores({ ...snapshot(), trees }, x.columns, n);
    initial.forEach((r, c) => crew.kernels.raw(c).set(r));
    const grower = new TreeGrower(crew, binEdges, p);
    const base = crew.kernels.buffers[BUFFER_BASE]!;
    for (let i = 0; i < n; i++) base[i] = i;
    const featureCount = Math.max(1, Math.round(p.featureFraction! * x.columns.length));
    const allFeatures = Uint32Array.from(x.columns.keys());
    const fused = p.task === 'regression' && p.subsample === 1;

    for (let round = startRound; round < p.rounds; round++) {
      const random = mulberry32(deriveSeed(p.seed, ROUND_STREAM, round));
      // Squared error over every row: adding the last tree's leaf values already updated the gradients.
      if (!fused || round === startRound) {
        for (let s = 0; s < n; s += CHUNK) crew.queue(TASK_GRADIENTS, s, Math.min(n, s + CHUNK));
        crew.run();
        grower.largestGradient = Math.max(0, ...crew.results);
      }
      crew.kernels.control[CTL_FUSED] = fused ? 1 : 0;
      let rowCount = n;
      if (p.subsample! < 1) {
        rowCount = 0;
        for (let i = 0; i < n; i++) if (random() < p.subsample!) base[rowCount++] = i;
      }
      for (let c = 0; c < k; c++) {
        const features =
          featureCount < allFeatures.length ? sampleIndices(allFeatures.length, featureCount, random) : allFeatures;
        trees.push(grower.grow(rowCount, features, c));
      }
      if (options.onRound?.(round + 1, snapshot()) === 'stop') break;
    }
  } finally {
    const stats = crew.close();
    if (options.stats) Object.assign(options.stats, stats);
  }
  return snapshot();
}

/** Predictions for every row: the value (regression), P(class 1) (binary), or row-major probabilities rows × k. */
export function predictGbdt(model: GbdtModel, x: FeatureMatrix): Float64Array {
  checkFeatures(x, model.featureNames);
  return transform(model.params.task, rawScores(model, x.columns, x.rows));
}

/**
 * The loss after each round on (x, y), as the model's first r rounds predict it, r = 1..rounds: RMSE (regression) or
 * log loss (binary, multiclass). Each tree is added to every row in tree order, the additions predictGbdt makes, so
 * the last value is the loss of the model's own predictions.
 */
export function gbdtLossCurve(model: GbdtModel, x: FeatureMatrix, y: Float64Array): number[] {
  checkFeatures(x, model.featureNames);
  const { task } = model.params;
  const k = outputsOf(model.params);
  const n = x.rows;
  const raw = model.baseScore.map((b) => new Float64Array(n).fill(b));
  const curve: number[] = [];
  for (let t = 0; t < model.trees.length; t++) {
    const { depth, feature, threshold, nanRight, child, value } = compile(model.trees[t]!);
    const out = raw[t % k]!;
    for (let i = 0; i < n; i++) {
      let node = 0;
      for (let d = 0; d < depth; d++) {
        const v = x.columns[feature[node]!]![i]!;
        node = child[2 * node + (+(v > threshold[node]!) | (+(v !== v) & nanRight[node]!))]!;
      }
      out[i]! += value[node]!;
    }
    if (t % k === k - 1) {
      const predictions = transform(task, raw);
      curve.push(task === 'regression' ? rmse(y, predictions) : logLoss(y, predictions));
    }
  }
  return curve;
}

/** One row, for online serving: the same numbers predictGbdt gives for a one-row matrix (length 1 or k). */
export function predictRow(model: GbdtModel, row: ArrayLike<number>): Float64Array {
  const width = model.featureNames.length;
  if (row.length !== width) throw new MlInputError(`the model expects ${width} features, got ${row.length}`, 'row');
  const k = outputsOf(model.params);
  const raw = Float64Array.from(model.baseScore);
  for (let t = 0; t < model.trees.length; t++) {
    const { depth, feature, threshold, nanRight, child, value, features } = compile(model.trees[t]!);
    if (features > width) throw new MlInputError(`tree ${t} splits on feature ${features - 1}`, 'trees');
    let node = 0;
    for (let d = 0; d < depth; d++) {
      const x = row[feature[node]!]!;
      node = child[2 * node + (+(x > threshold[node]!) | (+(x !== x) & nanRight[node]!))]!;
    }
    raw[t % k]! += value[node]!;
  }
  return transform(
    model.params.task,
    Array.from(raw, (r) => Float64Array.of(r))
  );
}
