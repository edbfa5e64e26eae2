import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import {
  ArtifactIntegrityError,
  ArtifactNotFoundError,
  keyOf,
  LocalArtifactStore,
  sha256,
} from '../../lib/artifacts/index.js';
import type { ArtifactStore } from '../../lib/artifacts/index.js';
import { testDeps } from '../helpers/services.js';

const s3Deps = testDeps({ partSize: 5 << 20 });
afterAll(() => s3Deps.close());

interface Backend {
  name: string;
  store: ArtifactStore;
  /** Overwrites the stored bytes behind the store's back. */
  corrupt(digest: string, bytes: Buffer): Promise<void>;
  /** How many objects the store holds. */
  count(): Promise<number>;
}

const localRoot = mkdtempSync(join(tmpdir(), 'cairn-store-'));
const local = new LocalArtifactStore(localRoot);
const s3 = s3Deps.store;

const backends: Backend[] = [
  {
    name: 'local directory',
    store: local,
    corrupt: async (digest, bytes) => writeFileSync(local.pathOf(digest), bytes),
    count: async () => {
      const dir = join(localRoot, 'sha256');
      if (!existsSync(dir)) return 0;
      return readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).length;
    },
  },
  {
    name: 'S3 (SeaweedFS)',
    store: s3,
    corrupt: async (digest, bytes) => {
      await s3.client.putObject(s3.bucket, keyOf(digest), bytes);
    },
    count: async () => {
      let n = 0;
      for await (const _ of s3.client.listObjectsV2(s3.bucket, 'sha256/', true)) n++;
      return n;
    },
  },
];

describe.each(backends)('artifact store: $name', ({ store, corrupt, count }) => {
  it('addresses bytes by their sha256 and reads them back verified', async () => {
    const bytes = randomBytes(1000);
    const ref = await store.putBytes(bytes);
    expect(ref.digest).toBe(sha256(bytes));
    expect(ref.bytes).toBe(1000);
    expect(ref.uri).toContain(keyOf(ref.digest));
    expect((await store.getBytes(ref.digest)).equals(bytes)).toBe(true);
    expect(await store.stat(ref.digest)).toEqual(ref);
  });

  it('stores the same bytes once, however they arrive', async () => {
    const bytes = randomBytes(4096);
    const before = await count();
    const file = join(mkdtempSync(join(tmpdir(), 'cairn-src-')), 'model.bin');
    writeFileSync(file, bytes);
    const a = await store.putBytes(bytes);
    const b = await store.putFile(file);
    const c = await store.putStream(Readable.from([bytes.subarray(0, 100), bytes.subarray(100)]));
    expect(b).toEqual(a);
    expect(c).toEqual(a);
    expect(await count()).toBe(before + 1);
  });

  it('streams a multi-part object through and back', async () => {
    const bytes = randomBytes(12 * 1024 * 1024 + 17);
    async function* chunks() {
      for (let i = 0; i < bytes.length; i += 1 << 20) yield bytes.subarray(i, i + (1 << 20));
    }
    const ref = await store.putStream(chunks());
    expect(ref).toMatchObject({ digest: sha256(bytes), bytes: bytes.length });
    const dest = join(mkdtempSync(join(tmpdir(), 'cairn-dst-')), 'out.bin');
    await store.getFile(ref.digest, dest);
    expect((await import('node:fs')).readFileSync(dest).equals(bytes)).toBe(true);
  });

  it('stores a plain Uint8Array (a view into a larger buffer), not only a Buffer', async () => {
    const backing = new Uint8Array([9, 9, 1, 2, 3, 9]);
    const ref = await store.putBytes(backing.subarray(2, 5));
    expect(ref.bytes).toBe(3);
    expect([...(await store.getBytes(ref.digest))]).toEqual([1, 2, 3]);
  });

  it('stores an empty object', async () => {
    const ref = await store.putBytes(new Uint8Array(0));
    expect(ref.bytes).toBe(0);
    expect((await store.getBytes(ref.digest)).length).toBe(0);
  });

  it('refuses a put whose bytes do not match the expected digest and writes nothing', async () => {
    const bytes = randomBytes(256);
    const wrong = sha256(randomBytes(8));
    const before = await count();
    const err = await store.putBytes(bytes, { expectedDigest: wrong }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ArtifactIntegrityError);
    expect((err as ArtifactIntegrityError).digest).toBe(wrong);
    expect(await store.stat(sha256(bytes))).toBeUndefined();
    expect(await count()).toBe(before);
  });

  it('refuses to read an object whose bytes were changed, naming the digest', async () => {
    const bytes = randomBytes(2048);
    const { digest } = await store.putBytes(bytes);
    const tampered = Buffer.from(bytes);
    tampered[100] = tampered[100]! ^ 0xff;
    await corrupt(digest, tampered);

    const err = await store.getBytes(digest).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ArtifactIntegrityError);
    expect((err as Error).message).toContain(digest);
    expect((err as ArtifactIntegrityError).actual.digest).toBe(sha256(tampered));

    const dest = join(mkdtempSync(join(tmpdir(), 'cairn-dst-')), 'model.bin');
    await expect(store.getFile(digest, dest)).rejects.toBeInstanceOf(ArtifactIntegrityError);
    expect(existsSync(dest)).toBe(false);
  });

  it('reports a missing object by digest', async () => {
    const digest = sha256(randomBytes(16));
    const err = await store.get(digest).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ArtifactNotFoundError);
    expect((err as Error).message).toBe(`artifact ${digest} not found in the store`);
    expect(await store.stat(digest)).toBeUndefined();
  });

  it('rejects something that is not a digest', async () => {
    await expect(store.get('sha256:xyz')).rejects.toThrow(/not a sha256 digest/);
  });
});
