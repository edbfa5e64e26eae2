// Summarises V8 CPU profiles (`node --cpu-prof`): the functions with the most self time, across every profile given.
// `npx tsx bench/cpu-profile.ts <file.cpuprofile|dir>... [--top N]`; used to explain a benchmark target that is missed.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface SelfTime {
  fn: string;
  ms: number;
  share: number;
}

/** Self time per function (name and source location), largest first; idle time left out. */
export function selfTimes(files: string[]): SelfTime[] {
  const byFunction = new Map<string, number>();
  let total = 0;
  for (const file of files) {
    const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
    const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
    profile.samples.forEach((id, i) => {
      const frame = nodes.get(id)!.callFrame;
      // A thread waiting (the module loader's, an idle event loop) is not time spent.
      if (frame.functionName === '(idle)') return;
      const file = frame.url ? relative(process.cwd(), frame.url.replace(/^file:\/\//, '')) : '';
      // tsx hands V8 one-line modules: a line number in a .ts file says nothing.
      const where = file ? ` ${file}${file.endsWith('.ts') ? '' : `:${frame.lineNumber + 1}`}` : '';
      const key = `${frame.functionName || '(anonymous)'}${where}`;
      const us = profile.timeDeltas[i] ?? 0;
      byFunction.set(key, (byFunction.get(key) ?? 0) + us);
      total += us;
    });
  }
  return [...byFunction].map(([fn, us]) => ({ fn, ms: us / 1000, share: us / total })).sort((a, b) => b.ms - a.ms);
}

export function formatSelfTimes(rows: SelfTime[], top = 15): string {
  return rows
    .slice(0, top)
    .map((r) => `${(r.share * 100).toFixed(1).padStart(5)}%  ${r.ms.toFixed(0).padStart(7)} ms  ${r.fn}`)
    .join('\n');
}

/**
 * Runs `node --cpu-prof --import tsx <script> ...args` (the benchmark's own child mode, doing only our side) and
 * returns the summary of its profiles: where a missed target's time goes.
 */
export function profileChild(script: string, args: string[], top = 12): string {
  const dir = mkdtempSync(join(tmpdir(), 'cairn-prof-'));
  try {
    execFileSync(process.execPath, ['--cpu-prof', `--cpu-prof-dir=${dir}`, '--import', 'tsx', script, ...args], {
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    return formatSelfTimes(selfTimes(profilesIn([dir])), top);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function profilesIn(paths: string[]): string[] {
  return paths.flatMap((p) =>
    statSync(p).isDirectory()
      ? readdirSync(p)
          .filter((f) => f.endsWith('.cpuprofile'))
          .map((f) => join(p, f))
      : [p]
  );
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  const args = process.argv.slice(2);
  const topAt = args.indexOf('--top');
  const top = topAt >= 0 ? Number(args.splice(topAt, 2)[1]) : 15;
  process.stdout.write(`${formatSelfTimes(selfTimes(profilesIn(args)), top)}\n`);
}
