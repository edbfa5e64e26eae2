import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createServer, connect as tcpConnect } from 'node:net';
import type { Server, Socket } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT, serviceEnv } from '../helpers/cli.js';
import { services, testConfig } from '../helpers/services.js';

/** A TCP proxy in front of a real service that can be cut and restored: an outage as the process sees it. */
function tcpProxy(target: { hostname: string; port: string }) {
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  const open = (port = 0) =>
    new Promise<number>((resolve, reject) => {
      server = createServer((client) => {
        const upstream = tcpConnect(Number(target.port), target.hostname);
        for (const s of [client, upstream]) {
          sockets.add(s);
          s.on('close', () => sockets.delete(s));
          s.on('error', () => s.destroy());
        }
        client.pipe(upstream).pipe(client);
      });
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve((server!.address() as { port: number }).port));
    });
  const cut = () =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server?.close(() => resolve());
    });
  return { open, cut };
}

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });

async function readyz(
  port: number
): Promise<{ status: number; body: { ready: boolean; problems?: string[] } } | undefined> {
  return fetch(`http://127.0.0.1:${port}/readyz`).then(
    async (r) => ({ status: r.status, body: (await r.json()) as { ready: boolean; problems?: string[] } }),
    () => undefined
  );
}

async function until<T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

let worker: ChildProcess | undefined;
let consumer: ChildProcess | undefined;
afterAll(() => {
  worker?.kill('SIGKILL');
  consumer?.kill('SIGKILL');
});

describe('a dependency outage, as a worker process lives it', () => {
  it('keeps the worker running, says not ready while the store is away, and logs one line each way', async () => {
    const proxy = tcpProxy(new URL(services().s3.endpoint));
    const proxyPort = await proxy.open();
    const health = await freePort();
    worker = spawn(process.execPath, ['--import', 'tsx', 'workers/cairn-train.ts'], {
      cwd: ROOT,
      stdio: ['ignore', 'ignore', 'pipe'],
      env: {
        ...serviceEnv(),
        S3_ENDPOINT: `http://127.0.0.1:${proxyPort}`,
        CAIRN_TRAIN_TASK_QUEUE: `outage-${Date.now()}`,
        CAIRN_METRICS_PORT: '0',
        // The train worker serves health on the port after worker.healthPort.
        CAIRN_HEALTH_PORT: String(health - 1),
        CAIRN_LOG_LEVEL: 'info',
      },
    });
    let log = '';
    // Logs are JSON lines on stderr.
    worker.stderr!.on('data', (chunk: Buffer) => (log += chunk.toString()));

    await until('ready', async () => (await readyz(health))?.status === 200, 90_000);
    await proxy.cut();
    const down = await until('not ready', async () => {
      const r = await readyz(health);
      return r?.status === 503 && r;
    });
    expect(down.body.problems).toEqual([expect.stringMatching(/^object-store unreachable: /)]);
    // Several checks happen while it is away; the log says so once.
    await new Promise((r) => setTimeout(r, 6000));
    expect(worker.exitCode).toBeNull();

    await proxy.open(proxyPort);
    await until('ready again', async () => (await readyz(health))?.status === 200);
    const lines = log.split('\n').filter((l) => l.includes('"dependency":"object-store"'));
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/"msg":"object-store unreachable: .*; not ready until it is back"/);
    expect(lines[1]).toMatch(/"msg":"object-store reachable again after \d+\.\d s"/);
    expect(worker.exitCode).toBeNull();
  });
});

describe('a NATS outage, as the stream consumer lives it', () => {
  it('keeps the consumer running, says not ready while NATS is away, and logs one line each way', async () => {
    const proxy = tcpProxy(new URL(testConfig().nats.url.replace(/^nats:/, 'http:')));
    const proxyPort = await proxy.open();
    const health = await freePort();
    consumer = spawn(process.execPath, ['--import', 'tsx', 'serving/stream-main.ts'], {
      cwd: ROOT,
      stdio: ['ignore', 'ignore', 'pipe'],
      env: {
        ...serviceEnv(),
        NATS_URL: `nats://127.0.0.1:${proxyPort}`,
        // An environment nothing is deployed to: the consumer subscribes to no model other tests publish to.
        CAIRN_ENVIRONMENT: `outage-${Date.now()}`,
        CAIRN_STREAM_HEALTH_PORT: String(health),
        CAIRN_LOG_LEVEL: 'info',
      },
    });
    let log = '';
    consumer.stderr!.on('data', (chunk: Buffer) => (log += chunk.toString()));

    await until('ready', async () => (await readyz(health))?.status === 200, 90_000);
    await proxy.cut();
    const down = await until('not ready', async () => {
      const r = await readyz(health);
      return r?.status === 503 && r;
    });
    expect(down.body.problems).toEqual([expect.stringMatching(/^nats unreachable: /)]);
    await new Promise((r) => setTimeout(r, 6000));
    expect(consumer.exitCode).toBeNull();

    await proxy.open(proxyPort);
    await until('ready again', async () => (await readyz(health))?.status === 200);
    const lines = log.split('\n').filter((l) => l.includes('"dependency":"nats"'));
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/"msg":"nats unreachable: .*; not ready until it is back"/);
    expect(lines[1]).toMatch(/"msg":"nats reachable again after \d+\.\d s"/);
    expect(consumer.exitCode).toBeNull();
  });
});
