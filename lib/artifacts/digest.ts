import { createHash } from 'node:crypto';
import type { Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { Transform } from 'node:stream';
import type { TransformCallback } from 'node:stream';
import { ArtifactIntegrityError } from './types.js';

const DIGEST = /^sha256:[0-9a-f]{64}$/;

export function assertDigest(digest: string): void {
  if (!DIGEST.test(digest))
    throw new TypeError(`not a sha256 digest: ${JSON.stringify(digest)} (expected sha256:<64 hex>)`);
}

/** Object key of a digest: `sha256/<first two hex>/<hex>`. */
export function keyOf(digest: string): string {
  assertDigest(digest);
  const hex = digest.slice(7);
  return `sha256/${hex.slice(0, 2)}/${hex}`;
}

export function sha256(bytes: Uint8Array | string): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** A pass-through that hashes and counts what flows through it; with `expect`, fails at the end on a mismatch. */
export class DigestStream extends Transform {
  private readonly hash: Hash = createHash('sha256');
  bytes = 0;
  digest?: string;

  constructor(private readonly expect?: { digest: string; bytes?: number }) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    done(null, chunk);
  }

  override _flush(done: TransformCallback): void {
    this.digest = `sha256:${this.hash.digest('hex')}`;
    const e = this.expect;
    if (e && (e.digest !== this.digest || (e.bytes !== undefined && e.bytes !== this.bytes))) {
      done(new ArtifactIntegrityError(e.digest, { digest: this.digest, bytes: this.bytes }, e.bytes));
    } else done();
  }
}

/** Hashes a file by streaming it. */
export async function hashFile(path: string): Promise<{ digest: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
    hash.update(chunk);
    bytes += chunk.length;
  }
  return { digest: `sha256:${hash.digest('hex')}`, bytes };
}
