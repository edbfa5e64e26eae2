import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  createSigningKey,
  PackageSigner,
  PackageTrust,
  revokeSigningKey,
  UntrustedPackageError,
} from '../../../lib/signing/packages.js';

const DIGEST = `sha256:${'ab'.repeat(32)}`;

function setup() {
  const dir = mkdtempSync(join(tmpdir(), 'cairn-signing-'));
  const trustDir = join(dir, 'keys');
  const key = createSigningKey(join(dir, 'secrets', 'key.json'), trustDir, 'ci');
  const signer = PackageSigner.load(join(dir, 'secrets', 'key.json'))!;
  return { dir, trustDir, key, signer, trust: new PackageTrust(trustDir, 0) };
}

describe('package signatures', () => {
  it('verify for the model, version and digest they were made for, and nothing else', () => {
    const { signer, trust, key } = setup();
    const signature = signer.sign('m', 3, DIGEST);
    expect(signature).toMatchObject({ keyId: key.keyId, signer: 'ci' });
    expect(trust.problem({ model: 'm', version: 3, packageDigest: DIGEST, signature })).toBeUndefined();
    const other = `sha256:${'cd'.repeat(32)}`;
    for (const moved of [
      { model: 'n', version: 3, packageDigest: DIGEST },
      { model: 'm', version: 4, packageDigest: DIGEST },
      { model: 'm', version: 3, packageDigest: other },
    ]) {
      expect(trust.problem({ ...moved, signature })).toMatch(/the signature of key \w+ does not match package/);
    }
  });

  it('are refused unsigned, from an unknown key, or from a revoked one, naming the key', () => {
    const { signer, trust, trustDir, key } = setup();
    const v = { model: 'm', version: 1, packageDigest: DIGEST };
    expect(trust.problem({ ...v, signature: null })).toBe('m@1 is not signed (sign it: cairn keys sign m@1)');
    const stranger = setup().signer.sign('m', 1, DIGEST);
    expect(trust.problem({ ...v, signature: stranger })).toBe(
      `m@1 is signed by key ${stranger.keyId}, which is not trusted here (${trustDir})`
    );
    const signature = signer.sign('m', 1, DIGEST);
    revokeSigningKey(trustDir, key.keyId);
    expect(trust.problem({ ...v, signature })).toMatch(
      new RegExp(`^m@1 is signed by key ${key.keyId} \\(ci\\), revoked `)
    );
    expect(() => trust.check({ ...v, signature })).toThrow(UntrustedPackageError);
  });

  it('never overwrite a private key file', () => {
    const { dir, trustDir } = setup();
    const path = join(dir, 'existing.json');
    writeFileSync(path, '{}');
    expect(() => createSigningKey(path, trustDir, 'ci')).toThrow(/exists: a signing key is never overwritten/);
  });
});
