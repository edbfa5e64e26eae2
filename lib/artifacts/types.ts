import type { Readable } from 'node:stream';
import { CairnError } from '../errors.js';

/** What payloads carry instead of bytes: a content digest, a size and where the object lives. */
export interface ArtifactRef {
  /** `sha256:<64 hex digits>` of the bytes. */
  digest: string;
  bytes: number;
  /** `s3://bucket/sha256/ab/…` or `file:///…`; informative, the digest is the identity. */
  uri: string;
}

export interface PutOptions {
  /** Refuse the put, writing nothing, unless the bytes hash to this digest. */
  expectedDigest?: string;
  /** Stored as Content-Type on S3. @default 'application/octet-stream' */
  mediaType?: string;
}

export type ByteSource = Readable | AsyncIterable<Uint8Array>;

/**
 * A content-addressed store. Objects are written once under their sha256, verified before they become
 * visible and again on every read; putting the same bytes twice leaves one object.
 */
export interface ArtifactStore {
  readonly kind: 's3' | 'local';
  putFile(path: string, options?: PutOptions): Promise<ArtifactRef>;
  putStream(source: ByteSource, options?: PutOptions): Promise<ArtifactRef>;
  putBytes(bytes: Uint8Array | string, options?: PutOptions): Promise<ArtifactRef>;
  /** A stream of the object's bytes that fails with ArtifactIntegrityError at the end if they do not match. */
  get(digest: string): Promise<Readable>;
  getBytes(digest: string): Promise<Buffer>;
  /** The verified object parsed as JSON. */
  getJson<T = unknown>(digest: string): Promise<T>;
  /** Writes the verified object to `path` atomically (nothing appears there unless it verifies). */
  getFile(digest: string, path: string): Promise<void>;
  /** The stored object's reference, or undefined when absent. */
  stat(digest: string): Promise<ArtifactRef | undefined>;
  uri(digest: string): string;
}

export class ArtifactNotFoundError extends CairnError {
  override readonly name = 'ArtifactNotFoundError';
  readonly type = 'ArtifactNotFoundError';
  constructor(readonly digest: string) {
    super(`artifact ${digest} not found in the store`);
  }
  override failureDetails() {
    return { digest: this.digest };
  }
}

export class ArtifactIntegrityError extends CairnError {
  override readonly name = 'ArtifactIntegrityError';
  readonly type = 'ArtifactIntegrityError';
  override failureDetails() {
    return { digest: this.digest };
  }
  constructor(
    readonly digest: string,
    readonly actual: { digest: string; bytes: number },
    readonly expectedBytes?: number
  ) {
    super(
      `artifact ${digest} failed its integrity check: the bytes hash to ${actual.digest} (${actual.bytes} bytes` +
        (expectedBytes === undefined ? ')' : `, expected ${expectedBytes})`)
    );
  }
}
