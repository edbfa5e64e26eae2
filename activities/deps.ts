import type { ArtifactStore } from '../lib/artifacts/index.js';
import type { Pool } from '../lib/db/pool.js';
import type { Sources } from '../lib/data/sources/index.js';
import type { CodeVersion } from '../lib/lineage/code-version.js';
import type { OnlineStoreSettings } from '../lib/features/store/online.js';
import type { Logger } from '../lib/logging/logger.js';
import type { LlmSettings } from '../lib/prompts/llm.js';
import type { Notifications } from '../lib/notifications/webhooks.js';
import type { Project } from '../lib/pipeline/project.js';
import type { PackageSigner, PackageTrust } from '../lib/signing/packages.js';

/** What activities need from the outside world; workers pass real services, unit tests may pass others. */
export interface ActivityDeps {
  db: Pool;
  store: ArtifactStore;
  logger: Logger;
  /** The code version of this worker, recorded in every run's lineage. */
  code: CodeVersion;
  /** Where pipelines' data is read from (files, S3 prefixes, PostgreSQL queries, URLs), behind the allowed roots. */
  sources: Sources;
  /** Cairn's local state directory (`home`): scratch files live under it. */
  home: string;
  /** Where Python requirements' virtualenvs are kept, one per lock (`pythonEnvs`). */
  pythonEnvs: string;
  /** Price of one CPU-second, for run costs. */
  cpuSecondPrice: number;
  /** The user project whose pipelines `runPipeline` runs (CAIRN_PROJECT, else the working directory). */
  project: Project;
  /** A principal may approve a release it requested itself (`release.selfApproval`). @default false */
  selfApproval?: boolean;
  /** Signs registered packages (`signing.keyFile`); registration fails without it. */
  signer?: PackageSigner;
  /** The keys packages must be signed by to be released or scored (`signing.trustDir`). */
  trust: PackageTrust;
  /** The online feature store (`features.redisUrl`, `features.prefix`): where materialisations write. */
  onlineStore: OnlineStoreSettings;
  /** The OpenAI-compatible API prompt evaluations call (`llm.*`). @default none: an evaluation fails, saying so */
  llm?: LlmSettings;
  /** Webhooks notified of alerts, failed runs and releases (`notifications.webhooks`). @default none */
  notifications?: Notifications;
}
