import type { CairnConfig } from '../config/index.js';
import { requireS3Secret } from '../config/index.js';
import { LocalArtifactStore } from './local-store.js';
import { S3ArtifactStore } from './s3-store.js';
import type { ArtifactStore } from './types.js';

export { keyOf, sha256 } from './digest.js';
export { LocalArtifactStore } from './local-store.js';
export { S3ArtifactStore } from './s3-store.js';
export type { ArtifactRef, ArtifactStore, ByteSource, PutOptions } from './types.js';
export { ArtifactIntegrityError, ArtifactNotFoundError } from './types.js';

/** The store the configuration names. */
export function createArtifactStore(config: CairnConfig): ArtifactStore {
  const { store } = config;
  if (store.kind === 'local') return new LocalArtifactStore(store.localDir!);
  return new S3ArtifactStore({
    endpoint: store.endpoint,
    bucket: store.bucket,
    region: store.region,
    accessKey: store.accessKey,
    secretKey: requireS3Secret(config),
    partSize: store.partSizeMiB << 20,
    spoolDir: `${config.home}/tmp`,
  });
}
