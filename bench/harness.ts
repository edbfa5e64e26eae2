import { execFileSync } from 'node:child_process';
import { appendFileSync, mkdirSync } from 'node:fs';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

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
 * Runs every case once to warm up, then `reps` rounds in which each case runs once (interleaved). The heap is
 * collected before every run, outside the timed part (each case times itself).
 */
export async function interleave(
  cases: Record<string, () => Promise<Sample>>,
  reps: number
): Promise<Record<string, Sample[]>> {
  const results: Record<string, Sample[]> = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
  for (const run of Object.values(cases)) {
    collectGarbage();
    await run();
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

const fmt = (n: number) => (Math.abs(n) >= 100 ? n.toFixed(0) : n.toFixed(2));

/** Prints the table and appends the rows, with the commit and machine, to bench/results/<name>.jsonl. */
export function report(name: string, rows: Row[], extra: Record<string, unknown> = {}): void {
  const header = ['metric', 'ours (median [min-max])', 'peer', 'peer (median [min-max])', 'ratio'];
  const body = rows.map((r) => [
    r.metric,
    `${fmt(r.ours.median)} [${fmt(r.ours.min)}-${fmt(r.ours.max)}] ${r.unit}`,
    r.peerName,
    `${fmt(r.peer.median)} [${fmt(r.peer.min)}-${fmt(r.peer.max)}] ${r.unit}`,
    `${r.ratio.toFixed(3)} (${r.ratioMeaning})`,
  ]);
  const widths = header.map((_, i) => Math.max(...[header, ...body].map((row) => row[i]!.length)));
  const line = (row: string[]) =>
    row
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  process.stdout.write(`\n${name} on ${machine()}\n${line(header)}\n${body.map(line).join('\n')}\n`);
  const dir = fileURLToPath(new URL('./results', import.meta.url));
  mkdirSync(dir, { recursive: true });
  const record = { bench: name, commit: commit(), machine: machine(), at: new Date().toISOString(), rows, ...extra };
  appendFileSync(`${dir}/${name}.jsonl`, `${JSON.stringify(record)}\n`);
}
