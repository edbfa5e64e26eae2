import type { ActivityDeps } from './deps.js';
import { createHelloActivities } from './hello.js';

export type { ActivityDeps } from './deps.js';

/** All activities, built over injected dependencies (see STYLE.md: `createActivities({ db, store, logger })`). */
export function createActivities(deps: ActivityDeps) {
  return { ...createHelloActivities(deps) };
}

export type Activities = ReturnType<typeof createActivities>;
