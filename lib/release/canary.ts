import { jensenShannonDistance } from '../drift/jensen-shannon.js';
import type { CategoryCounts, FeedSummary, NumericBins } from '../monitoring/feed.js';

/** What a canary may not do worse than the stable version over one observation window. */
export interface CanaryLimits {
  /** Largest allowed rise of the error rate (failed rows / rows), absolute. @default 0.01 */
  maxErrorRateIncrease: number;
  /** Largest allowed canary p99 latency as a multiple of the stable p99 (plus `latencySlackMs`). @default 1.5 */
  maxP99Ratio: number;
  /** Latency differences below this never count: loopback p99s of a millisecond are noise. @default 5 */
  latencySlackMs: number;
  /** Largest Jensen-Shannon distance (base 2) between the two prediction distributions. @default 0.1 */
  maxPredictionShift: number;
  /** Rows the canary must have served in a window before it can be judged. @default 20 */
  minRows: number;
}

export const DEFAULT_CANARY_LIMITS: CanaryLimits = {
  maxErrorRateIncrease: 0.01,
  maxP99Ratio: 1.5,
  latencySlackMs: 5,
  maxPredictionShift: 0.1,
  minRows: 20,
};

interface Side {
  rows: number;
  errorRate: number;
  p99Ms: number | null;
}

export interface CanaryComparison {
  /** The canary served enough rows to be judged. */
  judged: boolean;
  breaches: string[];
  stable: Side;
  canary: Side;
  /** Jensen-Shannon distance between the prediction distributions; null without traffic on both sides. */
  predictionShift: number | null;
}

function side(feed: FeedSummary): Side {
  const rows = feed.predictions + feed.errors;
  return { rows, errorRate: rows ? feed.errors / rows : 0, p99Ms: feed.latencyMs.p99 };
}

function proportions(a: NumericBins | CategoryCounts, b: NumericBins | CategoryCounts): [number[], number[]] {
  if (a.kind === 'numeric' && b.kind === 'numeric') return [a.counts, b.counts];
  const ca = a.kind === 'categorical' ? a.counts : {};
  const cb = b.kind === 'categorical' ? b.counts : {};
  const keys = [...new Set([...Object.keys(ca), ...Object.keys(cb)])];
  return [keys.map((k) => ca[k] ?? 0), keys.map((k) => cb[k] ?? 0)];
}

/** Judges a canary against the stable version on error rate, p99 latency and prediction distribution. */
export function compareCanary(
  stableFeed: FeedSummary,
  canaryFeed: FeedSummary,
  limits: CanaryLimits
): CanaryComparison {
  const stable = side(stableFeed);
  const canary = side(canaryFeed);
  const breaches: string[] = [];
  const judged = canary.rows >= limits.minRows;
  if (canary.errorRate - stable.errorRate > limits.maxErrorRateIncrease) {
    breaches.push(
      `error rate ${(canary.errorRate * 100).toFixed(2)}% vs stable ${(stable.errorRate * 100).toFixed(2)}% (limit +${(limits.maxErrorRateIncrease * 100).toFixed(2)} points)`
    );
  }
  if (
    canary.p99Ms !== null &&
    stable.p99Ms !== null &&
    canary.p99Ms > stable.p99Ms * limits.maxP99Ratio &&
    canary.p99Ms - stable.p99Ms > limits.latencySlackMs
  ) {
    breaches.push(
      `p99 latency ${canary.p99Ms.toFixed(2)} ms vs stable ${stable.p99Ms.toFixed(2)} ms (limit ×${limits.maxP99Ratio})`
    );
  }
  let predictionShift: number | null = null;
  if (canaryFeed.predictions > 0 && stableFeed.predictions > 0) {
    const [p, q] = proportions(stableFeed.outputs, canaryFeed.outputs);
    predictionShift = jensenShannonDistance(p, q);
    if (predictionShift > limits.maxPredictionShift) {
      breaches.push(
        `prediction distribution moved: Jensen-Shannon distance ${predictionShift.toFixed(3)} (limit ${limits.maxPredictionShift})`
      );
    }
  }
  // An error-rate breach counts even below minRows: a canary failing every request must not wait for more traffic.
  return { judged: judged || breaches.length > 0, breaches, stable, canary, predictionShift };
}
