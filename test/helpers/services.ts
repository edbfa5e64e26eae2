import { randomUUID } from 'node:crypto';
import type { OnlineStoreSettings } from '../../lib/features/store/online.js';
import { tmpdir } from 'node:os';
import { inject } from 'vitest';
import { S3ArtifactStore } from '../../lib/artifacts/index.js';
import { loadConfig } from '../../lib/config/index.js';
import type { CairnConfig } from '../../lib/config/index.js';
import { createPool } from '../../lib/db/pool.js';
import type { Pool } from '../../lib/db/pool.js';
import { readCodeVersion } from '../../lib/lineage/code-version.js';
import type { CodeVersion } from '../../lib/lineage/code-version.js';
import { createLogger } from '../../lib/logging/logger.js';
import { defineProject } from '../../lib/pipeline/project.js';
import type { Project } from '../../lib/pipeline/project.js';
import type { Logger } from '../../lib/logging/logger.js';
import { signingOf } from '../../lib/signing/packages.js';
import type { PackageSigner, PackageTrust } from '../../lib/signing/packages.js';
import { sourcesOf } from '../../lib/pipeline/run-config.js';
import type { Sources } from '../../lib/data/sources/index.js';

/** What test/global-setup.ts started for the whole run. */
export interface TestServices {
  temporalAddress: string;
  namespace: string;
  databaseUrl: string;
  s3: { endpoint: string; bucket: string; region: string; accessKey: string; secretKey: string };
  workflowBundlePath: string;
  home: string;
  /** A token without roles for the tester principal: what CLI runs present (CAIRN_TOKEN in serviceEnv). */
  cliToken: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    services: TestServices;
  }
}

export const services = (): TestServices => inject('services');

/** The configuration pointed at the test services. */
export function testConfig(): CairnConfig {
  const s = services();
  return loadConfig({
    env: {},
    overrides: {
      home: s.home,
      logLevel: 'warn',
      // The defaults, and the temporary directory tests write bad data files to.
      'data.roots': ['.', 'npm:', tmpdir(), `s3://${s.s3.bucket}/data`],
      'temporal.address': s.temporalAddress,
      'temporal.namespace': s.namespace,
      'database.url': s.databaseUrl,
      'store.endpoint': s.s3.endpoint,
      'store.bucket': s.s3.bucket,
      'store.accessKey': s.s3.accessKey,
      'store.secretKey': s.s3.secretKey,
    },
  });
}

export interface TestDeps {
  code: CodeVersion;
  home: string;
  pythonEnvs: string;
  sources: Sources;
  cpuSecondPrice: number;
  db: Pool;
  store: S3ArtifactStore;
  logger: Logger;
  project: Project;
  signer?: PackageSigner;
  trust: PackageTrust;
  onlineStore: OnlineStoreSettings;
  close(): Promise<void>;
}

/** Real PostgreSQL and S3 dependencies for activities; call close() in afterAll. */
export function testDeps(options: { partSize?: number; project?: Project } = {}): TestDeps {
  const config = testConfig();
  const db = createPool(config);
  const store = new S3ArtifactStore({ ...services().s3, partSize: options.partSize, spoolDir: `${config.home}/tmp` });
  return {
    code: readCodeVersion(),
    home: config.home,
    pythonEnvs: config.pythonEnvs!,
    sources: sourcesOf(config, store, options.project?.dir),
    cpuSecondPrice: config.tracking.cpuSecondPrice,
    db,
    store,
    logger: createLogger(config),
    project: options.project ?? defineProject({ pipelines: [] }),
    // Each test process writes its own keys to the machine's Redis.
    onlineStore: { url: config.features.redisUrl, prefix: `cairn-test-${randomUUID().slice(0, 8)}:` },
    ...signingOf(config),
    close: () => db.end(),
  };
}
