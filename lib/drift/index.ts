/**
 * Drift statistics: pure functions over typed arrays and plain objects (no I/O, no shared state), so a drift check
 * over millions of rows can run in a worker thread. Each statistic is defined as its scipy counterpart and checked
 * against scipy's values in test/unit/drift.
 */
export { PSI_EPSILON, psi } from './psi.js';
export { jensenShannonDistance } from './jensen-shannon.js';
export { checkEdges, equalWidthEdges, histogramOnEdges } from './histogram.js';
export type { BinCounts } from './histogram.js';
export { ksTwoSample, ksTwoSampleSorted } from './ks.js';
export type { KsMethod, KsOptions, KsResult } from './ks.js';
export { kolmogorovN, smirnovSf } from './kolmogorov.js';
export { alignCategories, chiSquaredContingency, chiSquaredTest } from './chi-squared.js';
export type { AlignedCategories, CategoryCounts, ChiSquaredResult } from './chi-squared.js';
export { wassersteinDistance, wassersteinDistanceSorted, wassersteinFromHistograms } from './wasserstein.js';
export { adjustPValues, benjaminiHochberg, bonferroni } from './multiple-testing.js';
export type { Correction } from './multiple-testing.js';
export { chiSquaredSf, logGamma, regularizedGammaP, regularizedGammaQ } from './special.js';
export { createReservoir, reservoirAdd, reservoirSample, reservoirValues } from './reservoir.js';
export type { ReservoirState } from './reservoir.js';
export { sortInPlace, sortedWithoutNaN } from './sort.js';
export {
  DEFAULT_DRIFT_THRESHOLDS,
  DriftThresholdsError,
  driftThresholdsSchema,
  resolveDriftThresholds,
} from './thresholds.js';
export type { DriftThresholds, DriftThresholdsInput } from './thresholds.js';
export { detectColumnDrift, detectDrift, numericReference } from './detect.js';
export type {
  CategoricalColumnInput,
  CategoricalDriftStatistics,
  ColumnDrift,
  ColumnDriftInput,
  DatasetDrift,
  DetectOptions,
  DriftMethod,
  NumericColumnInput,
  NumericDriftStatistics,
  NumericReference,
  NumericReferenceOptions,
  Severity,
  TestStatistics,
} from './detect.js';
