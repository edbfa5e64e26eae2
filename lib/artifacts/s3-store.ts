import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { Client } from 'minio';
import { BaseArtifactStore } from './base-store.js';
import type { OpenSource } from './base-store.js';
import { keyOf } from './digest.js';
import { ArtifactIntegrityError, ArtifactNotFoundError } from './types.js';
import type { PutOptions } from './types.js';

export interface S3StoreOptions {
  endpoint: string;
  bucket: string;
  region: string;
  accessKey: string;
  secretKey: string;
  /** Size of one multipart part; memory held per upload is about this. @default 16 MiB */
  partSize?: number;
  /** Where streams of unknown digest are spooled before upload. @default os.tmpdir() */
  spoolDir?: string;
}

/** A path-style S3 client for an `http(s)://host:port` endpoint. */
export function createS3Client(
  options: Pick<S3StoreOptions, 'endpoint' | 'region' | 'accessKey' | 'secretKey'>
): Client {
  const url = new URL(options.endpoint);
  return new Client({
    endPoint: url.hostname,
    port: url.port ? Number(url.port) : undefined,
    useSSL: url.protocol === 'https:',
    accessKey: options.accessKey,
    secretKey: options.secretKey,
    region: options.region,
    pathStyle: true,
  });
}

function isNotFound(err: unknown): boolean {
  const code = (err as { code?: string }).code;
  return code === 'NotFound' || code === 'NoSuchKey';
}

/** Yields the source re-cut into parts of exactly `size` bytes (the last may be shorter). */
async function* parts(source: AsyncIterable<Buffer>, size: number): AsyncGenerator<Buffer> {
  let part = Buffer.allocUnsafe(size);
  let filled = 0;
  for await (const chunk of source) {
    let offset = 0;
    while (offset < chunk.length) {
      const n = Math.min(size - filled, chunk.length - offset);
      chunk.copy(part, filled, offset, offset + n);
      filled += n;
      offset += n;
      if (filled === size) {
        yield part;
        part = Buffer.allocUnsafe(size);
        filled = 0;
      }
    }
  }
  if (filled > 0) yield part.subarray(0, filled);
}

/**
 * An S3-compatible bucket (SeaweedFS, MinIO, AWS) as an artifact store. Uploads go straight to the object's
 * content key as a multipart upload that is completed only after the streamed bytes matched the digest,
 * so a corrupt or changed source never becomes visible.
 */
export class S3ArtifactStore extends BaseArtifactStore {
  readonly kind = 's3' as const;
  readonly client: Client;
  readonly bucket: string;
  protected readonly spoolDir: string;
  private readonly partSize: number;

  constructor(options: S3StoreOptions) {
    super();
    this.client = createS3Client(options);
    this.bucket = options.bucket;
    this.partSize = options.partSize ?? 16 << 20;
    this.spoolDir = options.spoolDir ?? join(tmpdir(), 'cairn-spool');
  }

  /** Creates the bucket when it does not exist yet. */
  async ensureBucket(): Promise<void> {
    if (!(await this.client.bucketExists(this.bucket))) {
      try {
        await this.client.makeBucket(this.bucket);
      } catch (err) {
        const code = (err as { code?: string }).code;
        if (code !== 'BucketAlreadyOwnedByYou' && code !== 'BucketAlreadyExists') throw err;
      }
    }
  }

  uri(digest: string): string {
    return `s3://${this.bucket}/${keyOf(digest)}`;
  }

  protected async sizeOf(digest: string): Promise<number | undefined> {
    try {
      return (await this.client.statObject(this.bucket, keyOf(digest))).size;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  protected async openRaw(digest: string): Promise<Readable> {
    try {
      return await this.client.getObject(this.bucket, keyOf(digest));
    } catch (err) {
      if (isNotFound(err)) throw new ArtifactNotFoundError(digest);
      throw err;
    }
  }

  protected async commit(open: OpenSource, digest: string, bytes: number, options: PutOptions): Promise<void> {
    const key = keyOf(digest);
    const headers = { 'Content-Type': options.mediaType ?? 'application/octet-stream' };
    const hash = createHash('sha256');
    let seen = 0;
    const verify = () => {
      const actual = `sha256:${hash.digest('hex')}`;
      if (actual !== digest || seen !== bytes)
        throw new ArtifactIntegrityError(digest, { digest: actual, bytes: seen }, bytes);
    };

    const source = parts(open() as AsyncIterable<Buffer>, this.partSize);
    const first = await source.next();
    const firstPart = first.done ? Buffer.alloc(0) : first.value;
    if (firstPart.length < this.partSize) {
      // Small object: one PUT of a buffer already checked.
      hash.update(firstPart);
      seen = firstPart.length;
      verify();
      await this.client.putObject(this.bucket, key, firstPart, firstPart.length, headers);
      return;
    }

    const uploadId = await this.client.initiateNewMultipartUpload(this.bucket, key, headers);
    try {
      const etags: { part: number; etag: string }[] = [];
      let partNumber = 1;
      for (let part: Buffer | undefined = firstPart; part; partNumber++) {
        hash.update(part);
        seen += part.length;
        const { etag } = await this.client.uploadPart(
          {
            bucketName: this.bucket,
            objectName: key,
            uploadID: uploadId,
            partNumber,
            headers: { 'Content-Length': part.length },
          },
          part
        );
        etags.push({ part: partNumber, etag });
        const next = await source.next();
        part = next.done ? undefined : next.value;
      }
      verify();
      await this.client.completeMultipartUpload(this.bucket, key, uploadId, etags);
    } catch (err) {
      await this.client.abortMultipartUpload(this.bucket, key, uploadId).catch(() => undefined);
      throw err;
    }
  }
}
