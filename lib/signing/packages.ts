import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { hostname, userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import { CairnError } from '../errors.js';

/**
 * Model packages are signed with ed25519 when they are registered: the signature covers the model, the version and
 * the package digest (which covers every byte of the package), so neither the bytes, nor the digest a version row
 * points to, nor a signature moved from another version can pass. Private keys live in files (`signing.keyFile`),
 * trusted public keys in a directory of files (`signing.trustDir`), never in PostgreSQL: the database an attacker
 * could write cannot vouch for itself.
 */
export interface PackageSignature {
  keyId: string;
  signer: string;
  /** base64 ed25519 signature of signedMessage(model, version, digest). */
  signature: string;
  signedAt: string;
}

/** A trusted public key, as its file in the trust directory holds it (`<keyId>.json`). */
export interface TrustedKey {
  keyId: string;
  signer: string;
  publicKey: string;
  createdAt: string;
  revokedAt?: string;
}

/** The private half (`signing.keyFile`, mode 0600). */
interface PrivateKeyFile {
  keyId: string;
  signer: string;
  privateKey: string;
}

/** A package that may not be used: unsigned, signed by a key not trusted (or revoked), or not matching its signature. */
export class UntrustedPackageError extends CairnError {
  override readonly name = 'UntrustedPackageError';
  readonly type = 'UntrustedPackage';
}

export const signedMessage = (model: string, version: number, digest: string) =>
  Buffer.from(`cairn.model-package.signature/v1\n${model}@${version}\n${digest}`);

/** sha256 of the public key's DER form, first 16 hex characters. */
const keyIdOf = (publicKey: KeyObject) =>
  createHash('sha256')
    .update(publicKey.export({ type: 'spki', format: 'der' }))
    .digest('hex')
    .slice(0, 16);

export class PackageSigner {
  private constructor(
    readonly keyId: string,
    readonly signer: string,
    private readonly key: KeyObject
  ) {}

  /** The signer in `path`, or undefined when there is no such file. */
  static load(path: string): PackageSigner | undefined {
    if (!existsSync(path)) return undefined;
    const file = JSON.parse(readFileSync(path, 'utf8')) as PrivateKeyFile;
    return new PackageSigner(file.keyId, file.signer, createPrivateKey(file.privateKey));
  }

  sign(model: string, version: number, digest: string): PackageSignature {
    return {
      keyId: this.keyId,
      signer: this.signer,
      signature: sign(null, signedMessage(model, version, digest), this.key).toString('base64'),
      signedAt: new Date().toISOString(),
    };
  }
}

/**
 * Makes a key pair: the private key to `keyFile` (0600, refused if it exists), the public key to
 * `<trustDir>/<keyId>.json`. Returns the trusted key.
 */
export function createSigningKey(keyFile: string, trustDir: string, signer: string): TrustedKey {
  if (existsSync(keyFile)) throw new Error(`${keyFile} exists: a signing key is never overwritten`);
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const keyId = keyIdOf(publicKey);
  const trusted: TrustedKey = {
    keyId,
    signer,
    publicKey: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    createdAt: new Date().toISOString(),
  };
  mkdirSync(trustDir, { recursive: true });
  writeFileSync(join(trustDir, `${keyId}.json`), `${JSON.stringify(trusted, null, 2)}\n`);
  mkdirSync(dirname(keyFile), { recursive: true });
  const file: PrivateKeyFile = {
    keyId,
    signer,
    privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
  writeFileSync(keyFile, `${JSON.stringify(file, null, 2)}\n`, { mode: 0o600 });
  return trusted;
}

/** Marks a trusted key revoked in its file: packages it signed are refused from then on. */
export function revokeSigningKey(trustDir: string, keyId: string): TrustedKey {
  const path = join(trustDir, `${keyId}.json`);
  if (!existsSync(path)) throw new UntrustedPackageError(`no trusted key ${keyId} in ${trustDir}`);
  const key = JSON.parse(readFileSync(path, 'utf8')) as TrustedKey;
  key.revokedAt ??= new Date().toISOString();
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(key, null, 2)}\n`);
  renameSync(tmp, path);
  return key;
}

/**
 * The trusted keys of a directory, re-read when a file in it changes (checked at most every `recheckMs`), so a
 * revocation reaches running servers without a restart.
 */
export class PackageTrust {
  private keys = new Map<string, TrustedKey & { key: KeyObject }>();
  private stamp = '';
  private checkedAt = 0;

  constructor(
    readonly dir: string,
    private readonly recheckMs = 1000
  ) {}

  list(): TrustedKey[] {
    this.refresh(true);
    return [...this.keys.values()].map(({ key: _key, ...k }) => k);
  }

  /** Why `v`'s package may not be used, or undefined when its signature verifies under a trusted, live key. */
  problem(v: { model: string; version: number; packageDigest: string; signature: PackageSignature | null }) {
    const what = `${v.model}@${v.version}`;
    if (!v.signature) return `${what} is not signed (sign it: cairn keys sign ${what})`;
    this.refresh();
    // A key added a moment ago is looked for again at once; revocations are seen within `recheckMs`.
    if (!this.keys.has(v.signature.keyId)) this.refresh(true);
    const key = this.keys.get(v.signature.keyId);
    if (!key) return `${what} is signed by key ${v.signature.keyId}, which is not trusted here (${this.dir})`;
    if (key.revokedAt) return `${what} is signed by key ${key.keyId} (${key.signer}), revoked ${key.revokedAt}`;
    const ok = verify(
      null,
      signedMessage(v.model, v.version, v.packageDigest),
      key.key,
      Buffer.from(v.signature.signature, 'base64')
    );
    return ok ? undefined : `${what}: the signature of key ${key.keyId} does not match package ${v.packageDigest}`;
  }

  /** Throws UntrustedPackageError unless `v` verifies. */
  check(v: Parameters<PackageTrust['problem']>[0]): void {
    const problem = this.problem(v);
    if (problem) throw new UntrustedPackageError(`package refused: ${problem}`);
  }

  private refresh(force = false): void {
    const now = Date.now();
    if (!force && now - this.checkedAt < this.recheckMs) return;
    this.checkedAt = now;
    const files = existsSync(this.dir) ? readdirSync(this.dir).filter((f) => f.endsWith('.json')) : [];
    const stamp = files.map((f) => `${f}:${statSync(join(this.dir, f)).mtimeMs}`).join('|');
    if (stamp === this.stamp) return;
    const keys = new Map<string, TrustedKey & { key: KeyObject }>();
    for (const f of files) {
      const k = JSON.parse(readFileSync(join(this.dir, f), 'utf8')) as TrustedKey;
      keys.set(k.keyId, { ...k, key: createPublicKey(k.publicKey) });
    }
    this.keys = keys;
    this.stamp = stamp;
  }
}

/** The signer (when its key file exists) and the trusted keys a process uses, from `signing.*`. */
export function signingOf(config: { signing: { keyFile?: string; trustDir?: string } }): {
  signer: PackageSigner | undefined;
  trust: PackageTrust;
} {
  return { signer: PackageSigner.load(config.signing.keyFile!), trust: new PackageTrust(config.signing.trustDir!) };
}

/**
 * A development key for a local stack: made once (signer `<user>@<host>`) when `signing.keyFile` does not exist, and
 * trusted in `signing.trustDir`. Production keys are made with `cairn keys create` and distributed as files.
 */
export function ensureSigningKey(config: { signing: { keyFile?: string; trustDir?: string } }): TrustedKey | undefined {
  if (existsSync(config.signing.keyFile!)) return undefined;
  return createSigningKey(config.signing.keyFile!, config.signing.trustDir!, `${userInfo().username}@${hostname()}`);
}
