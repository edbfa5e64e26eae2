import { randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { pathToFileURL } from 'node:url';
import { BaseArtifactStore, explainNoSpace } from './base-store.js';
import type { OpenSource } from './base-store.js';
import { DigestStream, keyOf } from './digest.js';
import { ArtifactNotFoundError } from './types.js';

/** A directory as an artifact store: for one machine (a laptop, a test); objects are files under `sha256/`. */
export class LocalArtifactStore extends BaseArtifactStore {
  readonly kind = 'local' as const;
  protected readonly spoolDir: string;

  constructor(readonly root: string) {
    super();
    this.spoolDir = join(root, 'tmp');
  }

  pathOf(digest: string): string {
    return join(this.root, keyOf(digest));
  }

  uri(digest: string): string {
    return pathToFileURL(this.pathOf(digest)).href;
  }

  protected async sizeOf(digest: string): Promise<number | undefined> {
    try {
      return (await stat(this.pathOf(digest))).size;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  protected async openRaw(digest: string): Promise<Readable> {
    const stream = createReadStream(this.pathOf(digest), { highWaterMark: 1 << 20 });
    await new Promise<void>((resolve, reject) => {
      stream.once('open', () => resolve());
      stream.once('error', (err: NodeJS.ErrnoException) =>
        reject(err.code === 'ENOENT' ? new ArtifactNotFoundError(digest) : err)
      );
    });
    return stream;
  }

  /** Copies into a temporary file in the same directory tree, verifies, then renames into place (atomic). */
  protected async commit(open: OpenSource, digest: string, bytes: number): Promise<void> {
    const tmp = join(this.spoolDir, `commit-${randomUUID()}`);
    try {
      await mkdir(this.spoolDir, { recursive: true });
      await pipeline(open(), new DigestStream({ digest, bytes }), createWriteStream(tmp, { flush: true }));
      const target = this.pathOf(digest);
      await mkdir(dirname(target), { recursive: true });
      await rename(tmp, target);
    } catch (err) {
      throw explainNoSpace(err, this.root);
    } finally {
      await rm(tmp, { force: true });
    }
  }
}
