import type { ActivityDeps } from './deps.js';
import { createBatchInferenceActivities } from './batch-inference.js';
import { createEvaluateActivities } from './evaluate.js';
import { createFeatureActivities } from './features.js';
import { createHelloActivities } from './hello.js';
import { createIngestActivities, createSnapshotStage } from './ingest.js';
import { createMonitorActivities } from './monitor.js';
import { createNotifyActivities } from './notify.js';
import { createPackageActivities } from './package.js';
import { createPrepareActivities } from './prepare.js';
import { createAliasReleaseActivities } from './alias-release.js';
import { createAliasMonitorActivities } from './alias-monitor.js';
import { createPromptActivities } from './prompts.js';
import { createPruneActivities } from './prune-log.js';
import { createRegisterActivities } from './register.js';
import { createReleaseActivities } from './release.js';
import { createRunStepActivities } from './run-step.js';
import { createTrainActivities } from './train.js';
import { createTransformActivities } from './transform.js';
import { createValidateActivities } from './validate.js';

export type { ActivityDeps } from './deps.js';

/** All activities, built over injected dependencies (see STYLE.md: `createActivities({ db, store, logger })`). */
export function createActivities(deps: ActivityDeps) {
  const stages = {
    ...createIngestActivities(deps),
    ...createValidateActivities(deps),
    ...createTransformActivities(deps),
    ...createTrainActivities(deps),
    ...createEvaluateActivities(deps),
    ...createPackageActivities(deps),
    ...createRegisterActivities(deps),
  };
  return {
    ...createHelloActivities(deps),
    ...createPrepareActivities(deps),
    ...stages,
    ...createReleaseActivities(deps),
    ...createBatchInferenceActivities(deps),
    ...createMonitorActivities(deps),
    ...createPruneActivities(deps),
    ...createNotifyActivities(deps),
    ...createFeatureActivities(deps),
    ...createPromptActivities(deps),
    ...createAliasReleaseActivities(deps),
    ...createAliasMonitorActivities(deps),
    // The tabular recipe's built-in steps run the same stage code inside their step activity.
    ...createRunStepActivities(deps, { ...stages, snapshot: createSnapshotStage(deps) }),
  };
}

export type Activities = ReturnType<typeof createActivities>;
