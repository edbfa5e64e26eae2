import { category } from '../../lib/features/builders.js';
import type { FeatureDef } from '../../lib/features/feature.js';

/** Each string column as a frequency-ranked level (rare and unseen values share one level). */
export function categoryFeatures(columns: string[], maxLevels = 255): FeatureDef[] {
  return columns.map((column) => category(column, { maxLevels }));
}
