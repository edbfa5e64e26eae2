import type { ActivityDeps } from './deps.js';
import { createBatchInferenceActivities } from './batch-inference.js';
import { createEvaluateActivities } from './evaluate.js';
import { createHelloActivities } from './hello.js';
import { createIngestActivities } from './ingest.js';
import { createMonitorActivities } from './monitor.js';
import { createPackageActivities } from './package.js';
import { createPrepareActivities } from './prepare.js';
import { createRegisterActivities } from './register.js';
import { createReleaseActivities } from './release.js';
import { createRunStepActivities } from './run-step.js';
import { createTrainActivities } from './train.js';
import { createTransformActivities } from './transform.js';
import { createValidateActivities } from './validate.js';

export type { ActivityDeps } from './deps.js';

/** All activities, built over injected dependencies (see STYLE.md: `createActivities({ db, store, logger })`). */
export function createActivities(deps: ActivityDeps) {
  return {
    ...createHelloActivities(deps),
    ...createPrepareActivities(deps),
    ...createIngestActivities(deps),
    ...createValidateActivities(deps),
    ...createTransformActivities(deps),
    ...createTrainActivities(deps),
    ...createEvaluateActivities(deps),
    ...createPackageActivities(deps),
    ...createRegisterActivities(deps),
    ...createReleaseActivities(deps),
    ...createBatchInferenceActivities(deps),
    ...createMonitorActivities(deps),
    ...createRunStepActivities(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;
