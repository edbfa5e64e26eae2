import { binMatrix, computeBinEdges } from './binning.js';
import { canonicalJson } from './canonical-json.js';
import { deriveSeed, mulberry32, sampleIndices } from './random.js';
import { checkFeatures, checkMatrix, checkTargets, inferNumClasses, MlInputError, TASKS } from './types.js';
import type { FeatureMatrix, Task } from './types.js';

/*
 * Histogram gradient-boosted trees, XGBoost's `hist` method in one thread. Each feature is cut into at most `bins`
 * quantile bins (plus one for NaN) once, as bytes. Trees grow depth-wise: a node's histogram of gradient and hessian
 * sums per bin gives every candidate split; the best has the largest XGBoost gain, NaN tried on both sides; leaves
 * are Newton steps -G/(H + lambda) times the learning rate. Only the smaller child's histogram is built from rows,
 * the larger is its parent minus it. Thresholds are stored as real values, so prediction reads raw features.
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
}

const ROUND_STREAM = 0x726f756e;
const MIN_HESSIAN = 1e-16;
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

/** Gradients and hessians of the loss at the current raw scores (hessians stay unused for squared error). */
function computeGradients(
  task: Task,
  y: Float64Array,
  raw: Float64Array[],
  g: Float64Array[],
  h: (Float64Array | null)[]
): void {
  const n = y.length;
  if (task === 'regression') {
    const r = raw[0]!;
    const g0 = g[0]!;
    for (let i = 0; i < n; i++) g0[i] = r[i]! - y[i]!;
  } else if (task === 'binary') {
    const r = raw[0]!;
    const g0 = g[0]!;
    const h0 = h[0]!;
    for (let i = 0; i < n; i++) {
      const p = 1 / (1 + Math.exp(-r[i]!));
      g0[i] = p - y[i]!;
      h0[i] = Math.max(p * (1 - p), MIN_HESSIAN);
    }
  } else {
    const k = raw.length;
    for (let i = 0; i < n; i++) {
      let max = -Infinity;
      for (let c = 0; c < k; c++) max = Math.max(max, raw[c]![i]!);
      let sum = 0;
      for (let c = 0; c < k; c++) sum += Math.exp(raw[c]![i]! - max);
      const label = y[i]!;
      for (let c = 0; c < k; c++) {
        const p = Math.exp(raw[c]![i]! - max) / sum;
        g[c]![i] = p - (c === label ? 1 : 0);
        h[c]![i] = Math.max(p * (1 - p), MIN_HESSIAN);
      }
    }
  }
}

interface GrowNode {
  id: number;
  start: number;
  end: number;
  sumG: number;
  sumH: number;
  count: number;
  /** (g, h, count) triplets per slot; null when the node will not be split. */
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

/*
 * Histogram kernels. A histogram holds (g, count) pairs, slot s at 2 * s, then one hessian sum per slot at hOff + s
 * (unused for squared error, whose hessian sum is the count). Offsets are a feature's first slot times 2. Rows are
 * visited in `rows` order with gradients g[i] (and hessians h[i]) already aligned to position i. Bins come from
 * `packed`, every row's bins side by side (`stride` words a row, four bytes a word), so a row's bins for all
 * features share a cache line: feature f is byte (f & 3) of word f >> 2, i.e. word w at shift sh.
 */
function accumulate4(
  hist: Float64Array,
  hOff: number,
  rows: Uint32Array,
  g: Float64Array,
  h: Float64Array | null,
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
  const m = rows.length;
  if (h) {
    for (let i = 0; i < m; i++) {
      const p = rows[i]! * stride;
      const gi = g[i]!;
      const hi = h[i]!;
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
    for (let i = 0; i < m; i++) {
      const p = rows[i]! * stride;
      const gi = g[i]!;
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
  g: Float64Array,
  h: Float64Array | null,
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
  const m = rows.length;
  if (h) {
    for (let i = 0; i < m; i++) {
      const p = rows[i]! * stride;
      const gi = g[i]!;
      const hi = h[i]!;
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
    for (let i = 0; i < m; i++) {
      const p = rows[i]! * stride;
      const gi = g[i]!;
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
  g: Float64Array,
  h: Float64Array | null,
  packed: Uint32Array,
  stride: number,
  w0: number,
  sh0: number,
  o0: number,
  w1: number,
  sh1: number,
  o1: number
): void {
  const m = rows.length;
  if (h) {
    for (let i = 0; i < m; i++) {
      const p = rows[i]! * stride;
      const gi = g[i]!;
      const hi = h[i]!;
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
    for (let i = 0; i < m; i++) {
      const p = rows[i]! * stride;
      const gi = g[i]!;
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
  g: Float64Array,
  h: Float64Array | null,
  packed: Uint32Array,
  stride: number,
  w0: number,
  sh0: number,
  o0: number
): void {
  const m = rows.length;
  if (h) {
    for (let i = 0; i < m; i++) {
      const p = rows[i]! * stride;
      const gi = g[i]!;
      const hi = h[i]!;
      const s0 = o0 + ((packed[p + w0]! >>> sh0) & 255) * 2;
      hist[s0]! += gi;
      hist[hOff + (s0 >> 1)]! += hi;
      hist[s0 + 1]!++;
    }
  } else {
    for (let i = 0; i < m; i++) {
      const p = rows[i]! * stride;
      const gi = g[i]!;
      const s0 = o0 + ((packed[p + w0]! >>> sh0) & 255) * 2;
      hist[s0]! += gi;
      hist[s0 + 1]!++;
    }
  }
}

function sumAt(values: Float64Array, rows: Uint32Array): number {
  let sum = 0;
  for (let i = 0; i < rows.length; i++) sum += values[rows[i]!]!;
  return sum;
}

function addToRows(raw: Float64Array, rows: Uint32Array, value: number): void {
  for (let i = 0; i < rows.length; i++) raw[rows[i]!]! += value;
}

/**
 * Grows trees on binned data. Rows live in `idx`, partitioned in place so every node owns a contiguous, ascending
 * run of row indices. Only the smaller child's histogram is built; the larger one is the parent minus it.
 */
class TreeGrower {
  private readonly idx: Uint32Array;
  private readonly scratch: Uint32Array;
  private readonly gOrdered: Float64Array;
  private readonly hOrdered: Float64Array;
  /** Row-major copy of the bins: row r's bin of feature f is byte f & 3 of packed[r * stride + (f >> 2)]. */
  private readonly packed: Uint32Array;
  private readonly stride: number;
  private readonly offsets: Int32Array;
  private readonly numBins: Int32Array;
  private readonly slots: number;
  private readonly pool: Float64Array[] = [];
  private readonly minData: number;
  private readonly edges: number[][];

  constructor(
    private readonly binned: Uint8Array[],
    binEdges: number[][],
    private readonly params: GbdtParams
  ) {
    const n = binned[0]?.length ?? 0;
    this.idx = new Uint32Array(n);
    this.scratch = new Uint32Array(n);
    this.gOrdered = new Float64Array(n);
    this.hOrdered = new Float64Array(n);
    const stride = (binned.length + 3) >> 2;
    const packed = new Uint32Array(n * stride);
    for (let f = 0; f < binned.length; f++) {
      const column = binned[f]!;
      const w = f >> 2;
      const sh = (f & 3) << 3;
      for (let i = 0; i < n; i++) packed[i * stride + w]! |= column[i]! << sh;
    }
    this.packed = packed;
    this.stride = stride;
    this.edges = binEdges;
    const features = binned.length;
    this.offsets = new Int32Array(features);
    this.numBins = new Int32Array(features);
    let slots = 0;
    for (let f = 0; f < features; f++) {
      this.offsets[f] = slots;
      this.numBins[f] = binEdges[f]!.length + 1;
      slots += binEdges[f]!.length + 2;
    }
    this.slots = slots;
    this.minData = params.minDataInLeaf;
  }

  /**
   * Grows one tree on rows[0, rowCount) and adds its leaf values to `raw`: directly per leaf when every row was
   * in the tree, by routing all rows through the binned tree otherwise.
   */
  grow(
    rows: Uint32Array,
    rowCount: number,
    features: Uint32Array,
    g: Float64Array,
    h: Float64Array | null,
    raw: Float64Array
  ): Tree {
    const { idx, params, minData } = this;
    const { maxDepth, lambda, learningRate } = params;
    const everyRow = rowCount === raw.length;
    idx.set(rows.subarray(0, rowCount));
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
    const makeLeaf = (node: GrowNode): void => {
      if (node.hist) this.release(node.hist);
      const value = leafValue(node);
      if (everyRow && value !== 0) addToRows(raw, idx.subarray(node.start, node.end), value);
    };

    const rootRows = idx.subarray(0, rowCount);
    const sumG = sumAt(g, rootRows);
    const sumH = h ? sumAt(h, rootRows) : rowCount;
    const root: GrowNode = { id: addNode(), start: 0, end: rowCount, sumG, sumH, count: rowCount, hist: null };
    if (rowCount >= 2 * minData) root.hist = this.build(root, features, g, h);
    let level = [root];
    for (let depth = 0; depth < maxDepth && level.length > 0; depth++) {
      const next: GrowNode[] = [];
      for (const node of level) {
        const split = node.hist ? this.findSplit(node, node.hist, features, h !== null) : undefined;
        if (!split) {
          makeLeaf(node);
          continue;
        }
        const nanBin = this.numBins[split.feature]!;
        const defaultLeft =
          split.missingLeft ||
          (node.hist![(this.offsets[split.feature]! + nanBin) * 2 + 1] === 0 && split.cl >= node.count - split.cl);
        const deeper = depth + 1 < maxDepth;
        const cr = node.count - split.cl;
        // Children too small or too deep to split are leaves: their rows need not be partitioned.
        const splitChildren = deeper && (split.cl >= 2 * minData || cr >= 2 * minData);
        const mid = splitChildren ? this.partition(node.start, node.end, split.feature, split.bin, defaultLeft) : 0;
        const leftId = addNode();
        const rightId = addNode();
        const edges = this.edges[split.feature]!;
        tree.feature[node.id] = split.feature;
        tree.threshold[node.id] = split.bin < edges.length ? edges[split.bin]! : Number.MAX_VALUE;
        tree.defaultLeft[node.id] = defaultLeft;
        tree.left[node.id] = leftId;
        tree.right[node.id] = rightId;
        tree.splitBin[node.id] = split.bin;
        const left: GrowNode = {
          id: leftId,
          start: node.start,
          end: mid,
          sumG: split.gl,
          sumH: split.hl,
          count: split.cl,
          hist: null,
        };
        const right: GrowNode = {
          id: rightId,
          start: mid,
          end: node.end,
          sumG: node.sumG - split.gl,
          sumH: node.sumH - split.hl,
          count: cr,
          hist: null,
        };
        if (!splitChildren) {
          this.release(node.hist!);
          const vl = leafValue(left);
          const vr = leafValue(right);
          if (everyRow) this.addSplitValues(raw, node.start, node.end, split.feature, split.bin, defaultLeft, vl, vr);
          continue;
        }
        this.childHistograms(node.hist!, left, right, deeper, features, g, h);
        next.push(left, right);
      }
      level = next;
    }
    for (const node of level) makeLeaf(node);
    if (!everyRow) this.route(tree, raw);
    return {
      feature: tree.feature,
      threshold: tree.threshold,
      defaultLeft: tree.defaultLeft,
      left: tree.left,
      right: tree.right,
      value: tree.value,
    };
  }

  private acquire(): Float64Array {
    return this.pool.pop() ?? new Float64Array(this.slots * 3);
  }

  private release(hist: Float64Array): void {
    this.pool.push(hist);
  }

  /** Histograms for the children that may split: the smaller one built from rows, the larger by subtraction. */
  private childHistograms(
    parent: Float64Array,
    left: GrowNode,
    right: GrowNode,
    deeper: boolean,
    features: Uint32Array,
    g: Float64Array,
    h: Float64Array | null
  ): void {
    const needLeft = deeper && left.count >= 2 * this.minData;
    const needRight = deeper && right.count >= 2 * this.minData;
    if (!needLeft && !needRight) {
      this.release(parent);
      return;
    }
    const [small, large, needSmall, needLarge] =
      left.count <= right.count ? [left, right, needLeft, needRight] : [right, left, needRight, needLeft];
    const smallHist = this.build(small, features, g, h);
    if (!needLarge) {
      small.hist = smallHist;
      this.release(parent);
      return;
    }
    const { slots } = this;
    const hOff = 2 * slots;
    for (let s = 0; s < slots; s++) {
      const count = parent[2 * s + 1]! - smallHist[2 * s + 1]!;
      // An empty bin gets exact zeros, not rounding residue, so equal splits tie exactly and the lowest bin wins.
      parent[2 * s] = count === 0 ? 0 : parent[2 * s]! - smallHist[2 * s]!;
      parent[2 * s + 1] = count;
      if (h) parent[hOff + s] = count === 0 ? 0 : parent[hOff + s]! - smallHist[hOff + s]!;
    }
    large.hist = parent;
    if (needSmall) small.hist = smallHist;
    else this.release(smallHist);
  }

  /**
   * Sums (g, 1) and h per bin of each allowed feature over the node's rows: the hot loop of training. Gradients are
   * first gathered into row order; features then go four at a time (the rest three, two or one) per pass over the
   * rows, which keeps several independent accumulations in flight and reads the row indices once per group.
   */
  private build(node: GrowNode, features: Uint32Array, g: Float64Array, h: Float64Array | null): Float64Array {
    const hist = this.acquire();
    hist.fill(0, 0, h ? hist.length : 2 * this.slots);
    const hOff = 2 * this.slots;
    const { idx, offsets } = this;
    const { start } = node;
    const m = node.end - start;
    let gs = g;
    let hs = h;
    // The root over every row has idx[i] = i: its gradients are already in row order.
    if (m !== g.length) {
      gs = this.gOrdered;
      for (let i = 0; i < m; i++) gs[i] = g[idx[start + i]!]!;
      if (h) {
        hs = this.hOrdered;
        for (let i = 0; i < m; i++) hs[i] = h[idx[start + i]!]!;
      }
    }
    const rows = idx.subarray(start, start + m);
    const { packed, stride } = this;
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
        gs,
        hs,
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
        gs,
        hs,
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
        gs,
        hs,
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
      accumulate1(hist, hOff, rows, gs, hs, packed, stride, f0 >> 2, (f0 & 3) << 3, offsets[f0]! * 2);
    }
    return hist;
  }

  /**
   * The best split of a node: features in ascending order, bins ascending, NaN right before NaN left, and a
   * candidate replaces the best only when strictly better, so ties go to the lowest feature, then the lowest bin.
   * Candidate bin b sends bins 0..b left; b = last value bin with NaN right splits missing from present.
   */
  private findSplit(node: GrowNode, hist: Float64Array, features: Uint32Array, hasH: boolean): Split | undefined {
    const { lambda } = this.params;
    const hOff = 2 * this.slots;
    const { minData } = this;
    const G = node.sumG;
    const H = node.sumH;
    const C = node.count;
    const parentScore = (G * G) / (H + lambda);
    let bestScore = parentScore + GAIN_TOLERANCE * Math.abs(parentScore);
    let best: Split | undefined;
    for (let j = 0; j < features.length; j++) {
      const f = features[j]!;
      const base = this.offsets[f]!;
      const nb = this.numBins[f]!;
      const nanSlot = base + nb;
      const gN = hist[2 * nanSlot]!;
      const cN = hist[2 * nanSlot + 1]!;
      const hN = hasH ? hist[hOff + nanSlot]! : cN;
      let gl = 0;
      let hl = 0;
      let cl = 0;
      for (let b = 0; b < nb; b++) {
        const s = base + b;
        const c = hist[2 * s + 1]!;
        if (c === 0) continue;
        gl += hist[2 * s]!;
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

  /**
   * Stable in-place partition of idx[start, end): rows going left first. Returns where the right rows begin.
   * Every row is written to both sides and only the matching cursor advances: no data-dependent branch.
   */
  private partition(start: number, end: number, feature: number, bin: number, defaultLeft: boolean): number {
    const { idx, scratch } = this;
    const bins = this.binned[feature]!;
    const nanBin = this.numBins[feature]!;
    const nanLeft = defaultLeft ? 1 : 0;
    let l = start;
    let r = 0;
    for (let i = start; i < end; i++) {
      const row = idx[i]!;
      const v = bins[row]!;
      // v <= bin, or v is the NaN bin and NaN goes left (bins are < 256, so the sign bit decides).
      const goLeft = (1 + ((bin - v) >> 31)) | (nanLeft & (((v ^ nanBin) - 1) >>> 31));
      idx[l] = row;
      scratch[r] = row;
      l += goLeft;
      r += 1 - goLeft;
    }
    idx.set(scratch.subarray(0, r), l);
    return l;
  }

  /**
   * Adds vl to the rows of idx[start, end) that the split sends left and vr to the others, as partitioning and then
   * adding each leaf's value to its rows would (a zero value is not added, so a -0 score stays -0).
   */
  private addSplitValues(
    raw: Float64Array,
    start: number,
    end: number,
    feature: number,
    bin: number,
    defaultLeft: boolean,
    vl: number,
    vr: number
  ): void {
    const { idx } = this;
    const bins = this.binned[feature]!;
    const nanBin = this.numBins[feature]!;
    const nanLeft = defaultLeft ? 1 : 0;
    if (vl !== 0 && vr !== 0) {
      for (let i = start; i < end; i++) {
        const row = idx[i]!;
        const v = bins[row]!;
        const goLeft = (1 + ((bin - v) >> 31)) | (nanLeft & (((v ^ nanBin) - 1) >>> 31));
        raw[row]! += goLeft ? vl : vr;
      }
    } else {
      for (let i = start; i < end; i++) {
        const row = idx[i]!;
        const v = bins[row]!;
        const value = v <= bin || (v === nanBin && defaultLeft) ? vl : vr;
        if (value !== 0) raw[row]! += value;
      }
    }
  }

  /** Adds the tree's leaf values to every row by routing binned rows, for rounds that subsampled rows. */
  private route(tree: TrainingTree, raw: Float64Array): void {
    const { feature, splitBin, defaultLeft, left, right, value } = tree;
    const nanRight = defaultLeft.map((d) => (d ? 0 : 1));
    for (let i = 0; i < raw.length; i++) {
      let node = 0;
      for (let f = feature[0]!; f >= 0; f = feature[node]!) {
        const v = this.binned[f]![i]!;
        const goRight = v === this.numBins[f]! ? nanRight[node]! : v > splitBin[node]!;
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
  const startRound = trees.length / k;
  if (startRound >= p.rounds) return snapshot();

  const raw = rawScores({ ...snapshot(), trees }, x.columns, n);
  const grower = new TreeGrower(binMatrix(x, binEdges), binEdges, p);
  const g = Array.from({ length: k }, () => new Float64Array(n));
  const h = Array.from({ length: k }, () => (p.task === 'regression' ? null : new Float64Array(n)));
  const allRows = new Uint32Array(n);
  for (let i = 0; i < n; i++) allRows[i] = i;
  const sampled = p.subsample! < 1 ? new Uint32Array(n) : allRows;
  const featureCount = Math.max(1, Math.round(p.featureFraction! * x.columns.length));
  const allFeatures = Uint32Array.from(x.columns.keys());

  for (let round = startRound; round < p.rounds; round++) {
    const random = mulberry32(deriveSeed(p.seed, ROUND_STREAM, round));
    computeGradients(p.task, y, raw, g, h);
    let rowCount = n;
    if (p.subsample! < 1) {
      rowCount = 0;
      for (let i = 0; i < n; i++) if (random() < p.subsample!) sampled[rowCount++] = i;
    }
    for (let c = 0; c < k; c++) {
      const features =
        featureCount < allFeatures.length ? sampleIndices(allFeatures.length, featureCount, random) : allFeatures;
      trees.push(grower.grow(sampled, rowCount, features, g[c]!, h[c] ?? null, raw[c]!));
    }
    if (options.onRound?.(round + 1, snapshot()) === 'stop') break;
  }
  return snapshot();
}

/** Predictions for every row: the value (regression), P(class 1) (binary), or row-major probabilities rows × k. */
export function predictGbdt(model: GbdtModel, x: FeatureMatrix): Float64Array {
  checkFeatures(x, model.featureNames);
  return transform(model.params.task, rawScores(model, x.columns, x.rows));
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
