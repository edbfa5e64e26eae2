// Load for the serving benchmarks (bench/serving.ts, bench/feature-serving.ts): the child processes they start and
// stop (servers, wrk, the open-loop generator), the maximum rate under wrk (closed loop), latency at a fixed rate
// under an open-loop generator of our own, and what the server processes answer about themselves over IPC (a CPU
// profile of the load asked for, event-loop stalls).
//
// The open-loop generator runs as a child process (this file, `node --import tsx bench/load.ts`) on the benchmark's
// core. It speaks HTTP/1.1 over raw keep-alive sockets with every request formatted once up front, and parses no
// more of an answer than its status and length: at a few thousand requests a second node:http's client (an Agent,
// a request object, a parser and a response stream per request) cost the shared core more than the servers' own
// answers, and its lateness showed in every latency.
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { PerformanceObserver } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { recordGcPauses } from '../serving/gc-pauses.js';
import { formatSelfTimes, selfTimes } from './cpu-profile.js';
import type { Sample } from './harness.js';

const SELF = fileURLToPath(import.meta.url);

/** Everything a benchmark starts, killed at the end whatever happens. */
export class Children {
  private readonly live = new Set<ChildProcess>();

  constructor() {
    // The last resort (an exception that skipped `stopAll`): nothing may outlive the benchmark.
    process.on('exit', () => {
      for (const child of this.live) child.kill('SIGKILL');
    });
  }

  spawn(command: string, args: string[], options: Parameters<typeof spawn>[2] = {}): ChildProcess {
    const child = spawn(command, args, options);
    this.live.add(child);
    child.once('exit', () => this.live.delete(child));
    child.once('error', () => this.live.delete(child));
    return child;
  }

  /** SIGTERM, then SIGKILL after `graceMs`. */
  async stop(child: ChildProcess, graceMs = 10_000): Promise<void> {
    if (!this.live.has(child)) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const late = await Promise.race([
      exited.then(() => false),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), graceMs))),
    ]);
    clearTimeout(timer);
    if (late) {
      child.kill('SIGKILL');
      await exited;
    }
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.live].map((child) => this.stop(child)));
  }
}

/** The next IPC message of a child (a server's `{ port }`, the generator's result); fails if it exits first. */
export function firstMessage<T>(child: ChildProcess, what: string, timeoutMs: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onMessage = (message: unknown) => {
      settle();
      resolve(message as T);
    };
    const onExit = (code: number | null, signal: NodeJS.Signals | null) => {
      settle();
      reject(new Error(`${what} exited (${signal ?? `code ${code}`}) before answering`));
    };
    const timer = setTimeout(() => {
      settle();
      reject(new Error(`${what}: no answer within ${timeoutMs / 1000} s`));
    }, timeoutMs);
    const settle = () => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
    };
    child.once('message', onMessage);
    child.once('exit', onExit);
  });
}

/** Sends `message` to a child and waits for its answer. */
export function ask<T>(child: ChildProcess, message: object, what: string, timeoutMs = 60_000): Promise<T> {
  const answered = firstMessage<T>(child, what, timeoutMs);
  child.send(message);
  return answered;
}

/**
 * A server process of ours (`node --import tsx <args>`) that sends `{ port }` over IPC once it listens on
 * 127.0.0.1; `path` is what the benchmark asks of it.
 */
export async function serveChild(
  children: Children,
  what: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  path: string
): Promise<{ child: ChildProcess; url: string }> {
  const child = children.spawn(process.execPath, ['--import', 'tsx', ...args], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    env,
  });
  const { port } = await firstMessage<{ port: number }>(child, what, 120_000);
  return { child, url: `http://127.0.0.1:${port}${path}` };
}

export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

/** Throws the error a user reads when wrk is missing. */
export function requireWrk(): void {
  if (spawnSync('wrk', ['-v']).error) {
    throw Object.assign(new Error('wrk is not installed: apt-get install -y wrk'), { userFacing: true });
  }
}

/**
 * Cycles through the bodies of BENCH_BODIES (one JSON body a line), each thread from its own place; prints one JSON
 * line at the end of a run: what `done` sees (times in microseconds).
 */
const WRK_SCRIPT = `
local headers = { ["Content-Type"] = "application/json" }
local auth = os.getenv("BENCH_AUTH")
if auth ~= nil and auth ~= "" then headers["Authorization"] = auth end
local bodies = {}
for line in io.lines(os.getenv("BENCH_BODIES")) do
  if line ~= "" then bodies[#bodies + 1] = line end
end

local threads = 0
setup = function(thread)
  thread:set("offset", threads * 131)
  threads = threads + 1
end

-- Formatted in init: only then does wrk.format know the Host header.
local requests = {}
local n = 0
init = function(args)
  for i, body in ipairs(bodies) do requests[i] = wrk.format("POST", nil, headers, body) end
  n = offset or 0
end

request = function()
  n = n + 1
  return requests[n % #requests + 1]
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '\\nBENCH_RESULT {"requests":%d,"durationUs":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,' ..
    '"p50Us":%d,"p99Us":%d,"maxUs":%d}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
`;

interface WrkResult {
  requests: number;
  durationUs: number;
  connect: number;
  read: number;
  write: number;
  status: number;
  timeout: number;
  p50Us: number;
  p99Us: number;
  maxUs: number;
}

/** One wrk run: requests a second over the run, and wrk's own latency percentiles (closed loop). */
export interface ThroughputSample extends Sample {
  rps: number;
  p50Ms: number;
  p99Ms: number;
}

/**
 * wrk with `threads` threads and `connections` connections, POSTing `bodies` in turn (files written to `dir`);
 * the returned function runs it once against a URL. Any error or non-2xx answer fails the run.
 */
export function wrkRunner(
  children: Children,
  dir: string,
  bodies: string[],
  options: { threads: number; connections: number }
): (url: string, authorization: string, seconds: number) => Promise<ThroughputSample> {
  const scriptPath = join(dir, 'load.lua');
  writeFileSync(scriptPath, WRK_SCRIPT);
  const bodiesPath = join(dir, 'bodies.jsonl');
  writeFileSync(bodiesPath, `${bodies.join('\n')}\n`);
  return async (url, authorization, seconds) => {
    const child = children.spawn(
      'wrk',
      ['-t', String(options.threads), '-c', String(options.connections), '-d', `${seconds}s`, '-s', scriptPath, url],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
        env: { ...process.env, BENCH_BODIES: bodiesPath, BENCH_AUTH: authorization },
      }
    );
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    const line = out.split('\n').find((l) => l.startsWith('BENCH_RESULT '));
    if (code !== 0 || !line) throw new Error(`wrk failed (exit ${code}):\n${out}`);
    const r = JSON.parse(line.slice('BENCH_RESULT '.length)) as WrkResult;
    const errors = r.connect + r.read + r.write + r.status + r.timeout;
    if (errors) throw new Error(`wrk against ${url}: ${errors} errors (non-2xx answers: ${r.status})`);
    return {
      ms: r.durationUs / 1000,
      rps: r.requests / (r.durationUs / 1e6),
      p50Ms: r.p50Us / 1000,
      p99Ms: r.p99Us / 1000,
    };
  };
}

/** What the open-loop generator is asked to do (sent over IPC: a token stays out of argv). */
export interface LoadSpec {
  url: string;
  headers: Record<string, string>;
  /** JSON bodies, POSTed in turn. */
  bodies: string[];
  rate: number;
  seconds: number;
  warmupSeconds: number;
  connections: number;
}

export interface LatencySample extends Sample {
  rate: number;
  sent: number;
  completed: number;
  failed: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
  /** How late the generator itself sent, p99: part of every latency (they are timed from the scheduled send). */
  lagP99Ms: number;
}

/**
 * One open-loop run in a child process of its own; `onTimed` runs when the timed phase starts (after the warm-up),
 * before the run is over. Any failed request fails the run.
 */
export async function openLoopRun(
  children: Children,
  spec: LoadSpec,
  onTimed?: () => Promise<unknown>
): Promise<LatencySample> {
  const child = children.spawn(process.execPath, ['--import', 'tsx', SELF], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const timed = ask<{ timed: true }>(child, spec, 'the load generator');
  const result = timed.then(() => firstMessage<LatencySample>(child, 'the load generator', (spec.seconds + 40) * 1000));
  await timed;
  await onTimed?.();
  const sample = await result;
  if (sample.failed) throw new Error(`open loop against ${spec.url}: ${sample.failed} requests failed`);
  return sample;
}

/**
 * The length and status of the HTTP/1.1 answer at the start of `buf`, or undefined while it is incomplete.
 * Content-Length and chunked answers (node:http's, when a handler sets no length) both.
 */
function answerAt(buf: Buffer): { length: number; ok: boolean } | undefined {
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) return undefined;
  const head = buf.toString('latin1', 0, end);
  const ok = head.startsWith(' 200', 8);
  const length = /\r\ncontent-length: *(\d+)/i.exec(head);
  if (length) {
    const total = end + 4 + Number(length[1]);
    return buf.length >= total ? { length: total, ok } : undefined;
  }
  // Chunked: size lines until the empty last chunk.
  let at = end + 4;
  for (;;) {
    const eol = buf.indexOf('\r\n', at);
    if (eol < 0) return undefined;
    const size = parseInt(buf.toString('latin1', at, eol), 16);
    if (size === 0) return buf.length >= eol + 4 ? { length: eol + 4, ok } : undefined;
    at = eol + 2 + size + 2;
    if (at > buf.length) return undefined;
  }
}

/**
 * Sends requests at a fixed rate whatever the answers do (open loop, as wrk2 does): request i, with body
 * i mod bodies, is due at start + i / rate and its latency is timed from then, so a slow answer cannot hide the
 * requests queued behind it. `connections` keep-alive sockets, one request in flight on each; a request due while
 * all are busy waits in a queue (waiting on the server).
 */
async function openLoop(spec: LoadSpec, onTimed: () => void): Promise<LatencySample> {
  const target = new URL(spec.url);
  const extra = Object.entries(spec.headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('');
  const requests = spec.bodies.map((body) => {
    const bytes = Buffer.from(body);
    const head =
      `POST ${target.pathname} HTTP/1.1\r\nHost: ${target.host}\r\n${extra}` +
      `Content-Type: application/json\r\nContent-Length: ${bytes.length}\r\n\r\n`;
    return Buffer.concat([Buffer.from(head, 'latin1'), bytes]);
  });

  /** A request's outcome: its index and whether it was answered 200. */
  let settleOne: (i: number, ok: boolean) => void = () => undefined;

  class Connection {
    socket!: Socket;
    ready!: Promise<void>;
    /** The request in flight, -1 when idle. */
    current = -1;
    pending: Buffer | null = null;

    constructor(private readonly onIdle: (c: Connection) => void) {
      this.open();
    }

    open(): void {
      this.pending = null;
      this.socket = connect({ host: target.hostname, port: Number(target.port), noDelay: true });
      this.ready = new Promise((resolve, reject) => {
        this.socket.once('connect', () => resolve());
        this.socket.once('error', reject);
      });
      this.socket.on('data', (chunk: Buffer) => this.data(chunk));
      this.socket.on('error', () => undefined);
      this.socket.once('close', () => {
        // An answer that never came; the server closed the socket (or failed): open another.
        if (this.current >= 0) this.done(false);
        if (!stopped) this.open();
      });
    }

    send(i: number): void {
      this.current = i;
      this.socket.write(requests[i % requests.length]!);
    }

    private data(chunk: Buffer): void {
      let buf = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
      for (let answer = answerAt(buf); answer; answer = answerAt(buf)) {
        this.done(answer.ok);
        buf = buf.subarray(answer.length);
        if (buf.length === 0) break;
      }
      this.pending = buf.length ? buf : null;
    }

    private done(ok: boolean): void {
      const i = this.current;
      this.current = -1;
      if (i >= 0) settleOne(i, ok);
      this.onIdle(this);
    }
  }

  let stopped = false;
  const idle: Connection[] = [];
  let queue: Int32Array = new Int32Array(0);
  let head = 0;
  let tail = 0;
  const dispatch = (c: Connection) => {
    if (head < tail) c.send(queue[head++]!);
    else idle.push(c);
  };
  const connections = Array.from({ length: spec.connections }, () => new Connection(dispatch));
  await Promise.all(connections.map((c) => c.ready));
  idle.push(...connections);

  const phase = (seconds: number) =>
    new Promise<LatencySample>((resolve) => {
      const total = Math.max(1, Math.round(spec.rate * seconds));
      const interval = 1000 / spec.rate;
      const latencies = new Float64Array(total).fill(NaN);
      const lags = new Float64Array(total);
      const scheduled = new Float64Array(total);
      queue = new Int32Array(total);
      head = tail = 0;
      let sent = 0;
      let finished = 0;
      let failed = 0;
      let settled = false;
      const start = performance.now() + 1;
      const settle = () => {
        if (settled) return;
        settled = true;
        clearTimeout(deadline);
        const ok = latencies.filter((v) => !Number.isNaN(v)).sort();
        const lag = lags.subarray(0, sent).slice().sort();
        resolve({
          ms: performance.now() - start,
          rate: spec.rate,
          sent,
          completed: ok.length,
          failed: failed + (total - finished),
          p50Ms: percentile(ok, 0.5),
          p90Ms: percentile(ok, 0.9),
          p99Ms: percentile(ok, 0.99),
          p999Ms: percentile(ok, 0.999),
          maxMs: ok[ok.length - 1] ?? NaN,
          lagP99Ms: percentile(lag, 0.99),
        });
      };
      settleOne = (i, ok) => {
        if (ok) latencies[i] = performance.now() - scheduled[i]!;
        else failed++;
        if (++finished === total) settle();
      };
      const tick = () => {
        const now = performance.now();
        while (sent < total && start + sent * interval <= now) {
          const due = start + sent * interval;
          scheduled[sent] = due;
          lags[sent] = now - due;
          const c = idle.pop();
          if (c) c.send(sent);
          else queue[tail++] = sent;
          sent++;
        }
        if (sent < total) setTimeout(tick, 1);
      };
      // Answers that never come count as failures.
      const deadline = setTimeout(settle, (seconds + 10) * 1000);
      setTimeout(tick, 1);
    });

  if (spec.warmupSeconds > 0) await phase(spec.warmupSeconds);
  onTimed();
  const result = await phase(spec.seconds);
  stopped = true;
  for (const c of connections) c.socket.destroy();
  return result;
}

/** The generator's process: its spec arrives over IPC, its result goes back the same way. */
function loadChild(): void {
  process.once('message', (spec: LoadSpec) => {
    // The benchmark is told when the timed phase starts (it records the server from there).
    void openLoop(spec, () => process.send?.({ timed: true })).then(
      (result) => process.send?.(result, () => process.exit(0)),
      (err: unknown) => {
        process.stderr.write(`load: ${String(err)}\n`);
        process.exit(1);
      }
    );
  });
  process.once('disconnect', () => process.exit(0));
}

type ProfileMessage = { profile: 'start' } | { profile: 'stop'; path: string };

/**
 * In a server process: answers `{ profile: 'start' }` by starting V8's CPU profiler and `{ profile: 'stop', path }`
 * by writing the profile there; so a benchmark profiles only the load it asks for, not start-up and module loading.
 */
export function answerProfileAsks(): void {
  const session = new Session();
  process.on('message', (m: ProfileMessage | object) => {
    if (!('profile' in m)) return;
    void (async () => {
      if (m.profile === 'start') {
        session.connect();
        await session.post('Profiler.enable');
        await session.post('Profiler.start');
        process.send?.({ profiling: true });
      } else {
        const { profile } = await session.post('Profiler.stop');
        writeFileSync(m.path, JSON.stringify(profile));
        session.disconnect();
        process.send?.({ profiling: false });
      }
    })();
  });
}

/** The self time of a server process's functions while `run` runs (a profile written to `path`), formatted. */
export async function profiled(child: ChildProcess, path: string, run: () => Promise<unknown>): Promise<string> {
  await ask(child, { profile: 'start' } satisfies ProfileMessage, 'a server (profiler)');
  await run();
  await ask(child, { profile: 'stop', path } satisfies ProfileMessage, 'a server (profiler)');
  return formatSelfTimes(selfTimes([path]), 20);
}

/** An event-loop turn this much later than its 1 ms timer is a stall. */
const STALL_MS = 8;

/** What a server process went through while recorded (a benchmark's diagnosis of a missed latency target). */
export interface LoopRecord {
  wallMs: number;
  /** CPU time of the whole process (every thread), ms. */
  cpuMs: number;
  /** Event-loop turns more than STALL_MS late. */
  stalls: number;
  stallMs: number;
  maxStallMs: number;
  /** CPU the process used during the stalls (busy: its own work, GC or helper threads on its core)... */
  stallCpuMs: number;
  /** ...of which garbage-collection pauses. The rest of `stallMs` it was runnable but off the CPU. */
  stallGcMs: number;
}

/**
 * Starts recording the event loop's stalls (a 1 ms interval timer: it perturbs what it measures a little, so a
 * benchmark records only in its diagnosis runs) and the process's CPU time; the returned function stops and
 * summarises.
 */
function recordLoop(): () => LoopRecord {
  const gcs: { start: number; ms: number }[] = [];
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) gcs.push({ start: e.startTime, ms: e.duration });
  });
  observer.observe({ entryTypes: ['gc'] });
  const stalls: { start: number; end: number; cpuMs: number }[] = [];
  const started = performance.now();
  const startCpu = process.cpuUsage();
  let last = started;
  let lastCpu = startCpu;
  const timer = setInterval(() => {
    const now = performance.now();
    const cpu = process.cpuUsage();
    if (now - last > STALL_MS)
      stalls.push({ start: last, end: now, cpuMs: (cpu.user + cpu.system - lastCpu.user - lastCpu.system) / 1000 });
    last = now;
    lastCpu = cpu;
  }, 1);
  return () => {
    clearInterval(timer);
    for (const e of observer.takeRecords()) gcs.push({ start: e.startTime, ms: e.duration });
    observer.disconnect();
    const cpu = process.cpuUsage(startCpu);
    const record: LoopRecord = {
      wallMs: performance.now() - started,
      cpuMs: (cpu.user + cpu.system) / 1000,
      stalls: stalls.length,
      stallMs: 0,
      maxStallMs: 0,
      stallCpuMs: 0,
      stallGcMs: 0,
    };
    for (const { start, end, cpuMs } of stalls) {
      const ms = end - start;
      record.stallMs += ms;
      record.maxStallMs = Math.max(record.maxStallMs, ms);
      record.stallCpuMs += Math.min(ms, cpuMs);
      for (const gc of gcs) {
        const overlap = Math.min(end, gc.start + gc.ms) - Math.max(start, gc.start);
        if (overlap > 0) record.stallGcMs += overlap;
      }
    }
    return record;
  };
}

/**
 * In a server process: answers `{ loop: 'start' }` with `{ loop: true }` and `{ loop: 'stop' }` with
 * `{ loop: LoopRecord }`.
 */
export function answerLoopAsks(): void {
  let stop: (() => LoopRecord) | undefined;
  process.on('message', (m: { loop?: 'start' | 'stop' }) => {
    if (m.loop === 'start') {
      stop = recordLoop();
      process.send?.({ loop: true });
    } else if (m.loop === 'stop' && stop) {
      process.send?.({ loop: stop() });
      stop = undefined;
    }
  });
}

/** In a server process: answers `{ gc: 'take' }` with `{ gcPauses }`, its garbage-collection pauses since the last ask. */
export function answerGcAsks(): void {
  const gc = recordGcPauses();
  process.on('message', (m: { gc?: string }) => {
    if (m.gc === 'take') process.send?.({ gcPauses: gc.take() });
  });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) loadChild();
