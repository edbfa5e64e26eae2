import { bucketize, category, datePart, numeric } from './builders.js';
import type { DatePart } from './builders.js';
import type { FeatureDef, FeatureSpec } from './feature.js';
import { FeatureStateError } from './matrix.js';

type Rebuild = (spec: FeatureSpec) => FeatureDef;

const param = <T>(spec: FeatureSpec, key: string): T => {
  const value = spec.params?.[key];
  if (value === undefined) throw new FeatureStateError(`feature ${spec.name} (${spec.kind}) records no ${key}`);
  return value as T;
};

/**
 * Built-in feature kinds, rebuilt from what a model package records of them (kind, params, inputs): a package alone
 * is enough to score, without the pipeline code that made it. A new built-in kind is one line here.
 */
const KINDS: Record<string, Rebuild> = {
  numeric: (s) => numeric(s.inputs[0]!, s.name),
  category: (s) => category(s.inputs[0]!, { maxLevels: param<number>(s, 'maxLevels'), name: s.name }),
  'date-part': (s) => datePart(s.inputs[0]!, param<DatePart>(s, 'part'), s.name),
  bucketize: (s) => bucketize(s.inputs[0]!, param<number>(s, 'buckets'), s.name),
};

/** The feature a package's spec describes. */
export function featureFromSpec(spec: FeatureSpec): FeatureDef {
  const rebuild = KINDS[spec.kind];
  if (!rebuild)
    throw new FeatureStateError(
      `feature ${spec.name} is of kind ${spec.kind}, which is not built in (known: ${Object.keys(KINDS).join(', ')})`
    );
  return rebuild(spec);
}
