// `cairn codec …`: the payload codec that keeps workflow inputs and results encrypted in Temporal's history.
import { join } from 'node:path';
import type { Command } from 'commander';
import { loadConfig } from '../lib/config/index.js';
import { createPool } from '../lib/db/pool.js';
import { startCodecServer } from '../lib/temporal/codec-server.js';
import { AesGcmCodec, readCodecKey, writeCodecKey } from '../lib/temporal/codec.js';
import { print, UsageError } from './io.js';

export function addCodecCommands(program: Command): void {
  const codec = program
    .command('codec')
    .description('encrypt payloads in Temporal (AES-256-GCM) and decode them for the UI');

  codec
    .command('keygen')
    .description('write a new key file; point temporal.codecKeyFile (CAIRN_CODEC_KEY_FILE) of every process at it')
    .option('--out <path>', 'where (default: temporal.codecKeyFile, else <home>/secrets/codec-key)')
    .action((o: { out?: string }) => {
      const config = loadConfig();
      const path = o.out ?? config.temporal.codecKeyFile ?? join(config.home, 'secrets', 'codec-key');
      const keyId = writeCodecKey(path);
      print(
        `codec key ${keyId} written to ${path} (mode 0600); set CAIRN_CODEC_KEY_FILE=${path} for clients and workers`
      );
    });

  codec
    .command('serve')
    .description(
      'decode payloads for the Temporal UI and `temporal workflow show --codec-endpoint` (a Cairn token per request)'
    )
    .option('-p, --port <port>', 'port on 127.0.0.1', '8089')
    .option('--anonymous', 'no token asked (a single-user machine only)')
    .action(async (o: { port: string; anonymous?: boolean }) => {
      const config = loadConfig();
      if (!config.temporal.codecKeyFile)
        throw new UsageError('set temporal.codecKeyFile (CAIRN_CODEC_KEY_FILE) first: cairn codec keygen');
      const db = createPool(config);
      const ui = config.temporal.uiPort;
      const server = await startCodecServer({
        codec: new AesGcmCodec(readCodecKey(config.temporal.codecKeyFile)),
        db,
        port: Number(o.port),
        origins: [`http://localhost:${ui}`, `http://127.0.0.1:${ui}`],
        anonymous: o.anonymous === true,
      });
      print(`codec server on http://127.0.0.1:${server.port} (Temporal UI: Settings → Codec Server); Ctrl-C stops it`);
      await new Promise<void>((resolve) => process.once('SIGINT', resolve).once('SIGTERM', resolve));
      server.close();
      await db.end();
    });
}
