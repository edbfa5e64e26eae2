import { datePart } from '../../lib/features/builders.js';
import type { FeatureDef } from '../../lib/features/feature.js';

/** Hour of day, weekday and month of a timestamp column (UTC): seasonality features any pipeline can reuse. */
export function calendarFeatures(column: string): FeatureDef[] {
  return [datePart(column, 'hour', 'hour'), datePart(column, 'weekday', 'weekday'), datePart(column, 'month', 'month')];
}
