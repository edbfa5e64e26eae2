import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Client } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { afterAll, describe, expect, it } from 'vitest';
import { createActivities } from '../../activities/index.js';
import { ensureBinaries } from '../../infra/stack/binaries.js';
import { createToken } from '../../lib/auth/tokens.js';
import { startCodecServer } from '../../lib/temporal/codec-server.js';
import { AesGcmCodec, readCodecKey, writeCodecKey } from '../../lib/temporal/codec.js';
import { runEntry } from '../helpers/cli.js';
import { services } from '../helpers/services.js';
import { useServices } from '../helpers/temporal.js';

const run = promisify(execFile);
const ctx = useServices();
const { deps } = ctx;
const closing: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const close of closing) await close();
});

interface ShownPayload {
  metadata?: Record<string, string>;
  data?: string;
}
/**
 * Every payload a `temporal workflow show --output json` history holds, but search attributes: the server indexes
 * those, so no codec touches them (Cairn's hold names, versions and digests, never data or credentials).
 */
function payloadsIn(value: unknown): ShownPayload[] {
  if (Array.isArray(value)) return value.flatMap(payloadsIn);
  if (!value || typeof value !== 'object') return [];
  const v = value as Record<string, unknown>;
  if (v.metadata && typeof v.metadata === 'object' && 'encoding' in v.metadata) return [v as ShownPayload];
  return Object.entries(v)
    .filter(([key]) => key !== 'searchAttributes')
    .flatMap(([, inner]) => payloadsIn(inner));
}

describe('the payload codec', () => {
  it('keeps workflow payloads encrypted in the history; the client and the codec endpoint decode them', async () => {
    const s = services();
    const keyFile = writeCodecKeyIn();
    const codec = new AesGcmCodec(readCodecKey(keyFile));
    const connection = await NativeConnection.connect({ address: s.temporalAddress });
    closing.push(() => connection.close());
    const taskQueue = `codec-${randomUUID()}`;
    const worker = await Worker.create({
      connection,
      namespace: s.namespace,
      taskQueue,
      workflowBundle: { codePath: s.workflowBundlePath },
      activities: createActivities(deps),
      dataConverter: { payloadCodecs: [codec] },
    });
    const client = new Client({
      connection: ctx.client.connection,
      namespace: s.namespace,
      dataConverter: { payloadCodecs: [codec] },
    });
    const name = `confidential-${randomUUID().slice(0, 8)}`;
    const workflowId = `codec-hello-${randomUUID().slice(0, 8)}`;
    // The CLI encrypts what it sends and decrypts what it reads with the same key file.
    const [result, viaCli] = await worker.runUntil(async () => [
      await client.workflow.execute('hello', { taskQueue, workflowId, args: [{ name }] }),
      await runEntry('cli/main.ts', ['hello', `${name}-cli`], {
        CAIRN_TASK_QUEUE: taskQueue,
        CAIRN_CODEC_KEY_FILE: keyFile,
      }),
    ]);
    expect(JSON.stringify(result)).toContain(name);
    expect(viaCli.stderr).toBe('');
    expect(viaCli.code).toBe(0);
    expect(viaCli.stdout).toContain(`${name}-cli`);

    // What Temporal stores: every payload encrypted under the codec's key, the name nowhere.
    const { temporal } = ensureBinaries(s.home, ['temporal']);
    const show = ['workflow', 'show', '--workflow-id', workflowId, '--address', s.temporalAddress, '--output', 'json'];
    const stored = (await run(temporal, show)).stdout;
    const payloads = payloadsIn(JSON.parse(stored));
    expect(payloads.length).toBeGreaterThanOrEqual(4); // input, result, activity input and result
    for (const p of payloads) {
      expect(Buffer.from(p.metadata!.encoding!, 'base64').toString()).toBe('binary/encrypted');
      expect(Buffer.from(p.metadata!['encryption-key-id']!, 'base64').toString()).toBe(codec.keyId);
    }
    expect(stored).not.toContain(name);
    expect(stored).not.toContain(Buffer.from(name).toString('base64').slice(0, 12));

    // The codec endpoint decodes for a principal with a token, and for no one else.
    const server = await startCodecServer({ codec, db: deps.db, port: 0, origins: [] });
    closing.push(() => new Promise((r) => server.close(r)));
    const endpoint = `http://127.0.0.1:${server.port}`;
    const anonymous = await fetch(`${endpoint}/decode`, { method: 'POST', body: JSON.stringify({ payloads: [] }) });
    expect(anonymous.status).toBe(401);
    const { token } = await createToken(deps.db, 'codec-reader', ['predict:*']);
    const decoded = (await run(temporal, [...show, '--codec-endpoint', endpoint, '--codec-auth', `Bearer ${token}`]))
      .stdout;
    const plain = payloadsIn(JSON.parse(decoded));
    expect(plain.map((p) => Buffer.from(p.metadata!.encoding!, 'base64').toString())).toContain('json/plain');
    expect(plain.map((p) => Buffer.from(p.data ?? '', 'base64').toString()).join('\n')).toContain(name);
  });
});

function writeCodecKeyIn(): string {
  const path = join(mkdtempSync(join(tmpdir(), 'cairn-codec-')), 'codec-key');
  writeCodecKey(path);
  return path;
}
