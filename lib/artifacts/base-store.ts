import { randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { assertDigest, DigestStream, hashFile, sha256 } from './digest.js';
import { ArtifactIntegrityError } from './types.js';
import type { ArtifactRef, ArtifactStore, ByteSource, PutOptions } from './types.js';

/**
 * ENOSPC as a readable error naming the directory, still retryable: space freed there lets a retry through, and the
 * partial file is removed either way (nothing half-written becomes visible).
 */
export function explainNoSpace(err: unknown, dir: string): unknown {
  if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') return err;
  return new Error(`no space left in ${dir} (ENOSPC): free space there and the write is retried`, { cause: err });
}

/** Opens the bytes to store; called once per commit attempt. */
export type OpenSource = () => Readable;

/**
 * What both backends share: hashing, the no-op on known content, verified reads and atomic downloads.
 * A backend supplies raw access and `commit`, which must verify the digest before the object is visible.
 */
export abstract class BaseArtifactStore implements ArtifactStore {
  abstract readonly kind: 's3' | 'local';
  /** Where putStream spools bytes whose digest is not known yet. */
  protected abstract readonly spoolDir: string;
  abstract uri(digest: string): string;
  /** Size of the stored object, or undefined when absent. */
  protected abstract sizeOf(digest: string): Promise<number | undefined>;
  /** The raw stored bytes; throws ArtifactNotFoundError. */
  protected abstract openRaw(digest: string): Promise<Readable>;
  protected abstract commit(open: OpenSource, digest: string, bytes: number, options: PutOptions): Promise<void>;

  async putFile(path: string, options: PutOptions = {}): Promise<ArtifactRef> {
    const { digest, bytes } = await hashFile(path);
    return this.putKnown(() => createReadStream(path, { highWaterMark: 1 << 20 }), digest, bytes, options);
  }

  async putBytes(data: Uint8Array | string, options: PutOptions = {}): Promise<ArtifactRef> {
    // A Buffer view, not a copy: the S3 path cuts parts with Buffer methods a plain Uint8Array lacks.
    const bytes =
      typeof data === 'string' ? Buffer.from(data) : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    return this.putKnown(() => Readable.from([bytes]), sha256(bytes), bytes.byteLength, options);
  }

  async putStream(source: ByteSource, options: PutOptions = {}): Promise<ArtifactRef> {
    const spool = join(this.spoolDir, `spool-${randomUUID()}`);
    try {
      await mkdir(this.spoolDir, { recursive: true });
      const hasher = new DigestStream();
      await pipeline(source, hasher, createWriteStream(spool));
      return await this.putKnown(
        () => createReadStream(spool, { highWaterMark: 1 << 20 }),
        hasher.digest!,
        hasher.bytes,
        options
      );
    } catch (err) {
      throw explainNoSpace(err, this.spoolDir);
    } finally {
      await rm(spool, { force: true });
    }
  }

  private async putKnown(open: OpenSource, digest: string, bytes: number, options: PutOptions): Promise<ArtifactRef> {
    if (options.expectedDigest !== undefined && options.expectedDigest !== digest) {
      throw new ArtifactIntegrityError(options.expectedDigest, { digest, bytes });
    }
    if ((await this.sizeOf(digest)) !== bytes) await this.commit(open, digest, bytes, options);
    return { digest, bytes, uri: this.uri(digest) };
  }

  async stat(digest: string): Promise<ArtifactRef | undefined> {
    assertDigest(digest);
    const bytes = await this.sizeOf(digest);
    return bytes === undefined ? undefined : { digest, bytes, uri: this.uri(digest) };
  }

  async get(digest: string): Promise<Readable> {
    assertDigest(digest);
    const raw = await this.openRaw(digest);
    const verify = new DigestStream({ digest });
    raw.on('error', (err) => verify.destroy(err));
    return raw.pipe(verify);
  }

  async getBytes(digest: string): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const chunk of await this.get(digest)) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }

  async getJson<T = unknown>(digest: string): Promise<T> {
    return JSON.parse((await this.getBytes(digest)).toString('utf8')) as T;
  }

  async getFile(digest: string, path: string): Promise<void> {
    await mkdir(dirname(path), { recursive: true });
    const partial = `${path}.partial-${randomUUID()}`;
    try {
      await pipeline(await this.get(digest), createWriteStream(partial));
      await rename(partial, path);
    } finally {
      await rm(partial, { force: true });
    }
  }
}
