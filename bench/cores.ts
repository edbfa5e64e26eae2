// CPU pinning for benchmarks where a load generator and a server run at once: the benchmark process on one core,
// the servers it talks to on another, so neither steals the other's cycles. Uses taskset (util-linux).
import { execFileSync } from 'node:child_process';
import { cpus } from 'node:os';

function taskset(args: string[]): string | undefined {
  try {
    return execFileSync('taskset', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    return undefined;
  }
}

/** The affinity mask (hex) of a process, as `taskset -p` prints it. */
function maskOf(pid: number): string | undefined {
  return taskset(['-p', String(pid)])
    ?.trim()
    .split(/\s+/)
    .pop();
}

export interface Pinning {
  /** What was pinned where, for the report. */
  description: string;
  /** Gives every process pinned here its previous affinity back. */
  restore(): void;
}

/**
 * Pins this process (all its threads, and so everything it starts later) to `self` and each server process (all
 * threads) to `serverCore`, and the processes of `besideBenchmark` (a service both servers call, which must not
 * take the servers' core from them) to `self`, remembering their previous masks. With fewer than two cores, or
 * without taskset, pins nothing and says so; BENCH_PIN=0 turns pinning off.
 */
export function pinApart(
  servers: { name: string; pid: number }[],
  options: {
    self?: number;
    serverCore?: number;
    startedOnServerCore?: string[];
    besideBenchmark?: { name: string; pid: number }[];
  } = {}
): Pinning {
  const { self = 1, serverCore = 0, startedOnServerCore = [], besideBenchmark = [] } = options;
  if (process.env.BENCH_PIN === '0') return { description: 'not pinned (BENCH_PIN=0)', restore: () => undefined };
  if (cpus().length < 2 || !maskOf(process.pid)) {
    return { description: 'not pinned (needs taskset and two cores)', restore: () => undefined };
  }
  const previous: { pid: number; mask: string }[] = [];
  const pin = (processes: { name: string; pid: number }[], core: number) =>
    processes
      .filter(({ pid }) => {
        const mask = maskOf(pid);
        if (!mask || taskset(['-a', '-p', '-c', String(core), String(pid)]) === undefined) return false;
        previous.push({ pid, mask });
        return true;
      })
      .map((p) => p.name);
  const pinned = [...startedOnServerCore, ...pin(servers, serverCore)];
  const beside = pin(besideBenchmark, self);
  taskset(['-a', '-p', '-c', String(self), String(process.pid)]);
  const onSignal = (signal: NodeJS.Signals) => {
    restore();
    process.kill(process.pid, signal);
  };
  const restore = () => {
    for (const { pid, mask } of previous.splice(0)) taskset(['-a', '-p', mask, String(pid)]);
    process.off('exit', restore);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  };
  // The servers belong to the stack: give them their cores back even when the benchmark fails or is interrupted.
  process.on('exit', restore);
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  return {
    description:
      `benchmark${beside.map((name) => ` and ${name}`).join('')} on core ${self}, ` +
      `${pinned.length ? pinned.join(' and ') : 'no server'} on core ${serverCore}`,
    restore,
  };
}
