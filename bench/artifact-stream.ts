// Streams a 1 GiB file through the artifact store and measures wall time and peak RSS of each operation in a
// fresh child process, against peers doing the same bytes: `openssl dgst -sha256` for hashing and the minio
// client's own fPutObject for the upload. Needs the stack (npm run stack:up) and openssl. BENCH_REPS (default 5),
// BENCH_MIB (default 1024); --smoke: 1 repetition of 16 MiB.
import { execFileSync, spawnSync } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createArtifactStore, keyOf, LocalArtifactStore } from '../lib/artifacts/index.js';
import type { S3ArtifactStore } from '../lib/artifacts/index.js';
import { hashFile } from '../lib/artifacts/digest.js';
import { loadConfig } from '../lib/config/index.js';
import { runMain } from '../lib/process/main.js';
import { interleave, needStack, report, sized, stats } from './harness.js';
import type { Sample } from './harness.js';

const MIB = sized('BENCH_MIB', 1024, 16);
const REPS = sized('BENCH_REPS', 5, 1);
const SELF = fileURLToPath(import.meta.url);

/** One operation, run inside a child process; prints its own wall time and peak RSS. */
async function child(op: string, file: string): Promise<void> {
  const config = loadConfig();
  const started = performance.now();
  if (op === 'hash') await hashFile(file);
  else if (op === 'put-s3') {
    // The parent deletes the object first, so this is a real upload and not the no-op on known content.
    const store = createArtifactStore(config) as S3ArtifactStore;
    await store.putFile(file);
  } else if (op === 'put-raw-s3') {
    const store = createArtifactStore(config) as S3ArtifactStore;
    await store.client.fPutObject(store.bucket, 'bench/raw-upload', file);
  } else if (op === 'put-local') {
    await new LocalArtifactStore(join(config.home, 'bench', 'local-store')).putFile(file);
  } else if (op === 'get-s3') {
    const store = createArtifactStore(config);
    const { digest } = await hashFile(file);
    for await (const _ of await store.get(digest));
  } else if (op !== 'noop') throw new Error(`unknown op ${op}`);
  const ms = performance.now() - started;
  process.stdout.write(JSON.stringify({ ms, peakRssMiB: process.resourceUsage().maxRSS / 1024 }));
}

function inChild(op: string, file: string): Sample {
  const out = execFileSync(process.execPath, ['--import', 'tsx', SELF, 'child', op, file], { encoding: 'utf8' });
  return JSON.parse(out) as Sample;
}

function timed(command: string, args: string[]): Sample {
  const started = performance.now();
  const result = spawnSync(command, args, { stdio: 'ignore' });
  if ((result.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') {
    throw new Error(
      `${command} is not installed: the benchmark's peer needs it (Debian/Ubuntu: \`sudo apt-get install ${command}\`, ` +
        `macOS: \`brew install ${command}\`)`
    );
  }
  if (result.status !== 0)
    throw new Error(`${command} ${args.join(' ')} failed (${result.signal ?? `exit ${result.status}`})`);
  return { ms: performance.now() - started };
}

function makeFile(path: string): void {
  if (existsSync(path) && statSync(path).size === MIB << 20) return;
  const fd = openSync(path, 'w');
  const chunk = Buffer.allocUnsafe(16 << 20);
  for (let written = 0; written < MIB << 20; written += chunk.length) writeSync(fd, randomFillSync(chunk));
  closeSync(fd);
}

async function main(): Promise<void> {
  const config = loadConfig();
  await needStack(config, ['object-store']);
  const dir = join(config.home, 'bench');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `random-${MIB}MiB.bin`);
  makeFile(file);
  const store = createArtifactStore(config) as S3ArtifactStore;
  const { digest } = await hashFile(file);
  const forget = async () => {
    await store.client.removeObject(store.bucket, keyOf(digest));
    await store.client.removeObject(store.bucket, 'bench/raw-upload');
  };

  const mibps = (s: Sample) => MIB / (s.ms / 1000);
  const hashing = await interleave(
    { ours: async () => inChild('hash', file), openssl: async () => timed('openssl', ['dgst', '-sha256', file]) },
    REPS
  );
  const uploads = await interleave(
    {
      ours: async () => (await forget(), inChild('put-s3', file)),
      raw: async () => (await forget(), inChild('put-raw-s3', file)),
    },
    REPS
  );
  const baseline = inChild('noop', file);
  await store.putFile(file);
  const reads = await interleave({ ours: async () => inChild('get-s3', file) }, Math.min(REPS, 3));
  const local = inChild('put-local', file);

  const through = (xs: Sample[]) => stats(xs.map(mibps));
  const rss = (xs: Sample[]) => stats(xs.map((x) => x.peakRssMiB!));
  report(
    'artifact-stream',
    [
      {
        metric: `sha256 of ${MIB} MiB`,
        ours: through(hashing.ours!),
        peer: through(hashing.openssl!),
        peerName: 'openssl dgst -sha256',
        unit: 'MiB/s',
        ratio: stats(hashing.ours!.map(mibps)).median / stats(hashing.openssl!.map(mibps)).median,
        ratioMeaning: 'throughput ours/peer, target >= 0.9',
      },
      {
        metric: `S3 upload of ${MIB} MiB`,
        ours: through(uploads.ours!),
        peer: through(uploads.raw!),
        peerName: 'minio fPutObject',
        unit: 'MiB/s',
        ratio: stats(uploads.ours!.map(mibps)).median / stats(uploads.raw!.map(mibps)).median,
        ratioMeaning: 'throughput ours/peer (ours hashes twice and verifies)',
      },
      {
        metric: `peak RSS, S3 upload of ${MIB} MiB`,
        ours: rss(uploads.ours!),
        peer: rss(uploads.raw!),
        peerName: 'minio fPutObject',
        unit: 'MiB',
        ratio:
          stats(uploads.ours!.map((x) => x.peakRssMiB!)).median / stats(uploads.raw!.map((x) => x.peakRssMiB!)).median,
        ratioMeaning: 'memory ours/peer, lower is better',
      },
    ],
    {
      baselineRssMiB: baseline.peakRssMiB,
      verifiedReadRssMiB: rss(reads.ours!),
      verifiedReadMiBps: through(reads.ours!),
      localPutRssMiB: local.peakRssMiB,
      localPutMiBps: mibps(local),
    }
  );
  process.stdout.write(
    `baseline process RSS ${baseline.peakRssMiB!.toFixed(0)} MiB; verified S3 read peak RSS ${rss(reads.ours!).median.toFixed(0)} MiB at ` +
      `${through(reads.ours!).median.toFixed(0)} MiB/s; local-store put peak RSS ${local.peakRssMiB!.toFixed(0)} MiB at ${mibps(local).toFixed(0)} MiB/s\n`
  );
  await forget();
}

if (process.argv[2] === 'child') runMain('bench', () => child(process.argv[3]!, process.argv[4]!));
else runMain('bench', main);
