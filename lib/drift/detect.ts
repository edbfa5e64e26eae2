/**
 * The drift decision for a column, and for all the columns of one check.
 *
 * Numeric columns compare a reference profile (training histogram, a reservoir sample of the training values and
 * their standard deviation) with the current window's values; categorical columns compare category counts.
 * Small samples (neither larger than `largeSampleSize`) are decided by a test: KS for numeric columns, chi-squared for
 * categorical ones, the p-value corrected over all the tests of the check. Large samples are decided by distance
 * measures, as Evidently does: on hundreds of thousands of rows a test rejects for shifts nobody cares about.
 * There, PSI gives the severity (warn, alert), and the column drifts when PSI, the Jensen-Shannon distance or (numeric)
 * the Wasserstein distance in reference standard deviations reaches its alert threshold.
 *
 * For KS the reference side is the reservoir sample (what the test actually sees), so a large training set with a
 * capped sample and a small window is still tested.
 */
import type { CategoryCounts } from './chi-squared.js';
import { alignCategories, chiSquaredContingency } from './chi-squared.js';
import { equalWidthEdges, histogramOnEdges } from './histogram.js';
import { jensenShannonDistance } from './jensen-shannon.js';
import { ksTwoSampleSorted } from './ks.js';
import { adjustPValues } from './multiple-testing.js';
import type { Correction } from './multiple-testing.js';
import { psi } from './psi.js';
import { reservoirSample } from './reservoir.js';
import { sortedWithoutNaN } from './sort.js';
import { resolveDriftThresholds } from './thresholds.js';
import type { DriftThresholds, DriftThresholdsInput } from './thresholds.js';
import { wassersteinDistanceSorted } from './wasserstein.js';

/** What a model package keeps of a numeric training column for drift checks. */
export interface NumericReference {
  /** Ascending histogram edges; the current window is counted on them. */
  edges: ArrayLike<number>;
  /** Training counts per bin. */
  counts: ArrayLike<number>;
  /** A reservoir sample of the training values (no NaN), for KS and Wasserstein. */
  sample: Float64Array;
  /** Population standard deviation of the training values, the unit of the normalised Wasserstein distance. */
  std: number;
}

export interface NumericReferenceOptions {
  /** Equal-width histogram bins. @default 20 */
  bins?: number;
  /** Reservoir capacity. @default 10000 */
  sampleSize?: number;
  /** Reservoir seed. @default 0 */
  seed?: number;
}

/** The reference profile of a training column: equal-width edges, counts, reservoir sample and std. */
export function numericReference(values: Float64Array, options: NumericReferenceOptions = {}): NumericReference {
  const { bins = 20, sampleSize = 10_000, seed = 0 } = options;
  const edges = equalWidthEdges(values, bins);
  const { counts } = histogramOnEdges(values, edges);
  let n = 0;
  let mean = 0;
  let squares = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (v - v !== 0) continue;
    // Welford: stable for columns with a large mean.
    n++;
    const delta = v - mean;
    mean += delta / n;
    squares += delta * (v - mean);
  }
  return { edges, counts, sample: reservoirSample(values, sampleSize, seed), std: Math.sqrt(squares / n) };
}

export type DriftMethod = 'ks' | 'chi-squared' | 'distance' | 'none';
export type Severity = 'ok' | 'warn' | 'alert';

export interface NumericColumnInput {
  column: string;
  kind: 'numeric';
  reference: NumericReference;
  /** The window's values; NaN counts as missing. */
  current: Float64Array;
}

export interface CategoricalColumnInput {
  column: string;
  kind: 'categorical';
  reference: CategoryCounts;
  current: CategoryCounts;
}

export type ColumnDriftInput = NumericColumnInput | CategoricalColumnInput;

export interface TestStatistics {
  statistic: number;
  pValue: number;
  /** The p-value after the check's multiple-testing correction; what the threshold is compared with. */
  adjustedPValue: number;
}

export interface NumericDriftStatistics {
  psi: number;
  jensenShannon: number;
  /** Between the reference sample and the current values, in the column's units. */
  wasserstein: number;
  /** wasserstein / max(reference std, 0.001), Evidently's normalisation (the floor keeps constants finite). */
  wassersteinNormed: number;
  /** Only when the samples are small enough for the test to be the decision. */
  ks?: TestStatistics;
  referenceSampleSize: number;
  currentSize: number;
  currentMissing: number;
}

export interface CategoricalDriftStatistics {
  psi: number;
  jensenShannon: number;
  /** Only when the samples are small enough for the test to be the decision. */
  chiSquared?: TestStatistics & { dof: number };
  /** Categories in the window that training never saw, and their share of the window. */
  unseen: string[];
  unseenShare: number;
  referenceSize: number;
  currentSize: number;
}

interface Decision {
  /** 'ks' and 'chi-squared': the test decided; 'distance': the distance measures did; 'none': nothing to compare. */
  method: DriftMethod;
  drifted: boolean;
  severity: Severity;
  /** The thresholds reached, e.g. ['psi.warn'] or ['ks.pValue'], for the report. */
  exceeded: string[];
  /** Why there is no decision (method 'none'). */
  note?: string;
}

/**
 * The two distributions a decision compared, for plots: counts of the reference and of the current window per bin
 * (numeric: `bins` are the histogram edges, one more than the counts) or per category (categorical: the categories
 * both sides saw, in order).
 */
export type DriftHistogram =
  | { edges: number[]; reference: number[]; current: number[] }
  | { categories: string[]; reference: number[]; current: number[] };

export type ColumnDrift = (
  | ({ column: string; kind: 'numeric'; statistics: NumericDriftStatistics } & Decision)
  | ({ column: string; kind: 'categorical'; statistics: CategoricalDriftStatistics } & Decision)
) & { histogram?: DriftHistogram };

export interface DetectOptions {
  /** Overrides of DEFAULT_DRIFT_THRESHOLDS (validated; throws DriftThresholdsError when invalid). */
  thresholds?: DriftThresholdsInput;
}

export interface DatasetDrift {
  columns: ColumnDrift[];
  /** Columns that drifted, and their share of the columns with a decision. */
  drifted: number;
  share: number;
  severity: Severity;
}

const WASSERSTEIN_STD_FLOOR = 0.001;

/** Statistics of one column, before the p-value correction that needs the whole check. */
interface Measured {
  result: ColumnDrift;
  test?: { statistics: TestStatistics; correction: Correction; level: number; name: 'ks.pValue' | 'chiSquared.pValue' };
}

function measureNumeric(input: NumericColumnInput, t: DriftThresholds): Measured {
  const { reference, current } = input;
  const histogram = histogramOnEdges(current, reference.edges);
  const currentSize = current.length - histogram.missing;
  const referenceSorted = sortedWithoutNaN(reference.sample);
  const referenceSize = referenceSorted.length;
  const statistics: NumericDriftStatistics = {
    psi: Number.NaN,
    jensenShannon: Number.NaN,
    wasserstein: Number.NaN,
    wassersteinNormed: Number.NaN,
    referenceSampleSize: referenceSize,
    currentSize,
    currentMissing: histogram.missing,
  };
  const result = {
    column: input.column,
    kind: 'numeric' as const,
    statistics,
    histogram: {
      edges: Array.from(reference.edges),
      reference: Array.from(reference.counts),
      current: Array.from(histogram.counts),
    },
  };
  let referenceCounted = 0;
  for (let i = 0; i < reference.counts.length; i++) referenceCounted += reference.counts[i]!;
  if (currentSize === 0 || referenceSize === 0 || referenceCounted === 0) {
    const note = currentSize === 0 ? 'no current values (all missing)' : 'no reference values';
    return { result: { ...result, ...undecided(note) } };
  }
  statistics.psi = psi(reference.counts, histogram.counts);
  statistics.jensenShannon = jensenShannonDistance(reference.counts, histogram.counts);
  const currentSorted = sortedWithoutNaN(current);
  statistics.wasserstein = wassersteinDistanceSorted(referenceSorted, currentSorted);
  statistics.wassersteinNormed = statistics.wasserstein / Math.max(reference.std, WASSERSTEIN_STD_FLOOR);
  if (referenceSize <= t.largeSampleSize && currentSize <= t.largeSampleSize) {
    const ks = ksTwoSampleSorted(referenceSorted, currentSorted, { method: 'asymp' });
    statistics.ks = { statistic: ks.statistic, pValue: ks.pValue, adjustedPValue: ks.pValue };
    return {
      result: { ...result, ...undecided() },
      test: { statistics: statistics.ks, correction: t.ks.correction, level: t.ks.pValue, name: 'ks.pValue' },
    };
  }
  const exceeded = distanceExceeded(statistics, t);
  if (statistics.wassersteinNormed >= t.wasserstein.alert) exceeded.push('wasserstein.alert');
  return { result: { ...result, ...distanceDecision(exceeded) } };
}

function measureCategorical(input: CategoricalColumnInput, t: DriftThresholds): Measured {
  const aligned = alignCategories(input.reference, input.current);
  let referenceSize = 0;
  let currentSize = 0;
  let unseenCount = 0;
  for (let i = 0; i < aligned.categories.length; i++) {
    referenceSize += aligned.reference[i]!;
    currentSize += aligned.current[i]!;
    if (aligned.reference[i] === 0) unseenCount += aligned.current[i]!;
  }
  const statistics: CategoricalDriftStatistics = {
    psi: Number.NaN,
    jensenShannon: Number.NaN,
    unseen: aligned.unseen,
    unseenShare: currentSize > 0 ? unseenCount / currentSize : Number.NaN,
    referenceSize,
    currentSize,
  };
  const result = {
    column: input.column,
    kind: 'categorical' as const,
    statistics,
    histogram: {
      categories: [...aligned.categories],
      reference: Array.from(aligned.reference),
      current: Array.from(aligned.current),
    },
  };
  if (currentSize === 0 || referenceSize === 0) {
    const note = currentSize === 0 ? 'no current values' : 'no reference values';
    return { result: { ...result, ...undecided(note) } };
  }
  statistics.psi = psi(aligned.reference, aligned.current);
  statistics.jensenShannon = jensenShannonDistance(aligned.reference, aligned.current);
  if (referenceSize <= t.largeSampleSize && currentSize <= t.largeSampleSize) {
    const chi = chiSquaredContingency(aligned.reference, aligned.current);
    statistics.chiSquared = { statistic: chi.statistic, dof: chi.dof, pValue: chi.pValue, adjustedPValue: chi.pValue };
    return {
      result: { ...result, ...undecided() },
      test: {
        statistics: statistics.chiSquared,
        correction: t.chiSquared.correction,
        level: t.chiSquared.pValue,
        name: 'chiSquared.pValue',
      },
    };
  }
  return { result: { ...result, ...distanceDecision(distanceExceeded(statistics, t)) } };
}

/** No decision: nothing to compare (with a note), or a test's decision still waiting for the correction. */
function undecided(note?: string): Decision {
  return { method: 'none', drifted: false, severity: 'ok', exceeded: [], ...(note ? { note } : {}) };
}

function distanceExceeded(s: { psi: number; jensenShannon: number }, t: DriftThresholds): string[] {
  const exceeded: string[] = [];
  if (s.psi >= t.psi.alert) exceeded.push('psi.alert');
  else if (s.psi >= t.psi.warn) exceeded.push('psi.warn');
  if (s.jensenShannon >= t.jensenShannon.alert) exceeded.push('jensenShannon.alert');
  return exceeded;
}

function distanceDecision(exceeded: string[]): Decision {
  const drifted = exceeded.some((e) => e.endsWith('.alert'));
  const severity = drifted ? 'alert' : exceeded.length ? 'warn' : 'ok';
  return { method: 'distance', drifted, severity, exceeded };
}

/** A test's decision on its corrected p-value; a NaN p-value (e.g. one value per side) is no evidence of drift. */
function decideTest(measured: Measured, adjustedPValue: number): ColumnDrift {
  const test = measured.test!;
  test.statistics.adjustedPValue = adjustedPValue;
  const drifted = adjustedPValue < test.level;
  const method = test.name === 'ks.pValue' ? 'ks' : 'chi-squared';
  const { note: _note, ...result } = measured.result;
  return {
    ...result,
    method,
    drifted,
    severity: drifted ? 'alert' : 'ok',
    exceeded: drifted ? [test.name] : [],
  } as ColumnDrift;
}

function measure(input: ColumnDriftInput, t: DriftThresholds): Measured {
  return input.kind === 'numeric' ? measureNumeric(input, t) : measureCategorical(input, t);
}

/**
 * Drift of one column on its own: a test's p-value is not corrected (a family of one); use detectDrift for the
 * columns of a check together.
 */
export function detectColumnDrift(input: ColumnDriftInput, options: DetectOptions = {}): ColumnDrift {
  const measured = measure(input, resolveDriftThresholds(options.thresholds));
  return measured.test ? decideTest(measured, measured.test.statistics.pValue) : measured.result;
}

/**
 * Drift of the columns of one check. The tests' p-values form one family: each is adjusted over all of them with
 * its test's correction (Bonferroni: p × number of tests) before it is compared with its level.
 */
export function detectDrift(inputs: readonly ColumnDriftInput[], options: DetectOptions = {}): DatasetDrift {
  const t = resolveDriftThresholds(options.thresholds);
  const measured = inputs.map((input) => measure(input, t));
  const tested = measured.filter((m) => m.test);
  const pValues = tested.map((m) => m.test!.statistics.pValue);
  const adjusted = new Map<Correction, Float64Array>();
  const columns = measured.map((m) => {
    if (!m.test) return m.result;
    const { correction } = m.test;
    if (!adjusted.has(correction)) adjusted.set(correction, adjustPValues(pValues, correction));
    return decideTest(m, adjusted.get(correction)![tested.indexOf(m)]!);
  });
  const decided = columns.filter((c) => c.method !== 'none').length;
  const drifted = columns.filter((c) => c.drifted).length;
  const severity = columns.some((c) => c.severity === 'alert')
    ? 'alert'
    : columns.some((c) => c.severity === 'warn')
      ? 'warn'
      : 'ok';
  return { columns, drifted, share: decided ? drifted / decided : 0, severity };
}
