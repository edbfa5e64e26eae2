import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Payload, PayloadCodec } from '@temporalio/common';
import protos from '@temporalio/proto';
import { ConfigError } from '../config/index.js';

// A CommonJS module: its default export, as plain Node's ESM loader sees it.
const PayloadProto = protos.temporal.api.common.v1.Payload;
const ENCODING = 'binary/encrypted';
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Encrypts every payload (workflow inputs and results, signal and update arguments, activity inputs and results)
 * with AES-256-GCM before it leaves the process, so Temporal's history holds ciphertext: a token in a signal, a
 * dataset path, a config. The original payload is serialized whole (metadata and data) and encrypted; the key id
 * (sha256 of the key, 16 hex) travels in the clear so the wrong key is named, not guessed at. Payloads already
 * encrypted, or not encrypted at all, pass through `decode` untouched (histories from before the codec still read).
 */
export class AesGcmCodec implements PayloadCodec {
  readonly keyId: string;

  constructor(private readonly key: Buffer) {
    if (key.length !== 32) throw new ConfigError(`the payload codec key must be 32 bytes, got ${key.length}`);
    this.keyId = createHash('sha256').update(key).digest('hex').slice(0, 16);
  }

  encode(payloads: Payload[]): Promise<Payload[]> {
    return Promise.resolve(
      payloads.map((payload) => {
        const iv = randomBytes(12);
        const cipher = createCipheriv('aes-256-gcm', this.key, iv);
        const plain = PayloadProto.encode(payload).finish();
        const sealed = Buffer.concat([iv, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
        return {
          metadata: { encoding: encoder.encode(ENCODING), 'encryption-key-id': encoder.encode(this.keyId) },
          data: sealed,
        };
      })
    );
  }

  decode(payloads: Payload[]): Promise<Payload[]> {
    return Promise.resolve(
      payloads.map((payload) => {
        const encoding = payload.metadata?.encoding;
        if (!encoding || decoder.decode(encoding) !== ENCODING) return payload;
        const keyId = payload.metadata?.['encryption-key-id'];
        if (!keyId || decoder.decode(keyId) !== this.keyId)
          throw new Error(
            `payload encrypted with key ${keyId ? decoder.decode(keyId) : '(none)'}, not with this codec's key ${this.keyId}`
          );
        const sealed = Buffer.from(payload.data ?? new Uint8Array());
        const decipher = createDecipheriv('aes-256-gcm', this.key, sealed.subarray(0, 12));
        decipher.setAuthTag(sealed.subarray(sealed.length - 16));
        const plain = Buffer.concat([decipher.update(sealed.subarray(12, sealed.length - 16)), decipher.final()]);
        return PayloadProto.decode(plain);
      })
    );
  }
}

/** Reads a codec key file (base64 of 32 random bytes). */
export function readCodecKey(path: string): Buffer {
  if (!existsSync(path)) throw new ConfigError(`temporal.codecKeyFile: ${path} does not exist (cairn codec keygen)`);
  return Buffer.from(readFileSync(path, 'utf8').trim(), 'base64');
}

/** Writes a new codec key file (mode 0600), refusing to overwrite one: payloads encrypted with it would be lost. */
export function writeCodecKey(path: string): string {
  if (existsSync(path)) throw new ConfigError(`${path} exists: a codec key is never overwritten`);
  mkdirSync(dirname(path), { recursive: true });
  const key = randomBytes(32);
  writeFileSync(path, `${key.toString('base64')}\n`, { mode: 0o600 });
  return new AesGcmCodec(key).keyId;
}

/** The data converter every client and worker uses: the codec when `temporal.codecKeyFile` is set, else none. */
export function dataConverterOf(config: { temporal: { codecKeyFile?: string } }) {
  return config.temporal.codecKeyFile
    ? { payloadCodecs: [new AesGcmCodec(readCodecKey(config.temporal.codecKeyFile))] }
    : undefined;
}
