import cluster from 'node:cluster';
import type { Worker } from 'node:cluster';
import { availableParallelism } from 'node:os';
import type { Logger } from '../lib/logging/logger.js';

/** How many server processes `serving.workers` asks for: 'auto' is one per core (`os.availableParallelism()`). */
export function serveWorkers(workers: number | 'auto'): number {
  return workers === 'auto' ? availableParallelism() : workers;
}

/** What the primary sends a server process to stop it (a signal may reach it too: stopping is idempotent). */
export const SHUTDOWN_MESSAGE = 'cairn:shutdown';

/** Exit code of a process that failed for a reason a restart will not fix (a setting, a port in use). */
const USER_FACING_EXIT = 2;
const GRACE_MS = 30_000;

/**
 * The primary of a clustered `cairn serve` (node:cluster): it forks `workers` processes that each run the whole
 * server (`serve`: its own models loaded from the deployments, token cache, metrics, monitoring feed thread and
 * replica row), all listening on serving.host:port, and serves nothing itself; the primary accepts connections and
 * hands them out round-robin (node's default on Linux). A process that dies is started again (after 1 s, doubling
 * up to 30 s while they keep dying within a minute); one that exits with code 2 before it listened (a setting, the
 * port in use) stops the cluster with that code. SIGINT or SIGTERM stops every process cleanly (each finishes its
 * requests in flight and writes the rest of its feed, as one process does) and resolves once all have exited.
 * A connection the primary hands to a process at the moment it dies is lost with it (node:cluster), as its
 * requests in flight are.
 */
export async function runPrimary(workers: number, logger: Logger): Promise<number> {
  const log = logger.child({ component: 'serving-cluster' });
  let stopping = false;
  let exitCode = 0;
  let backoffMs = 1000;
  const started = new Map<Worker, number>();
  const listened = new Set<Worker>();
  let done: () => void = () => undefined;
  const allExited = new Promise<void>((resolve) => (done = resolve));

  const stop = (why: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ reason: why, processes: started.size }, 'stopping the server processes');
    for (const worker of started.keys()) {
      // A signal to the process group reached them too; the message covers a signal sent to this process alone.
      if (worker.isConnected()) worker.send(SHUTDOWN_MESSAGE, () => undefined);
    }
    const late = setTimeout(() => {
      for (const worker of started.keys()) {
        log.error(
          { pid: worker.process.pid },
          `server process still running ${GRACE_MS / 1000} s after stop; killing it`
        );
        worker.process.kill('SIGKILL');
      }
    }, GRACE_MS);
    late.unref();
    if (started.size === 0) done();
  };

  const fork = () => {
    const worker = cluster.fork();
    started.set(worker, Date.now());
    worker.once('listening', () => {
      listened.add(worker);
      if (listened.size === workers) log.info({ processes: workers }, 'every server process is listening');
    });
    worker.once('exit', (code, signal) => {
      const since = started.get(worker)!;
      started.delete(worker);
      const wasListening = listened.delete(worker);
      if (stopping) {
        if (code) exitCode = code;
        if (started.size === 0) done();
        return;
      }
      if (code === USER_FACING_EXIT && !wasListening) {
        exitCode = USER_FACING_EXIT;
        stop('a server process could not start (see its message above)');
        return;
      }
      if (Date.now() - since > 60_000) backoffMs = 1000;
      log.error(
        { pid: worker.process.pid, code, signal },
        `server process exited; starting another in ${backoffMs / 1000} s`
      );
      setTimeout(() => {
        if (!stopping) fork();
      }, backoffMs).unref();
      backoffMs = Math.min(backoffMs * 2, 30_000);
    });
  };

  log.info({ processes: workers }, 'serving with one process per worker (node:cluster)');
  for (let i = 0; i < workers; i++) fork();
  // Once: a second signal forces the way out (its default action), as it does for one server process.
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
  await allExited;
  log.info({ exitCode }, 'every server process has stopped');
  return exitCode;
}

/**
 * Resolves when this process is asked to stop: SIGINT, SIGTERM, or (in a cluster) the primary's message or its
 * disappearance. A second signal takes its default action (the way to force an exit), as before clustering.
 */
export function stopRequested(): Promise<string> {
  return new Promise((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
    if (cluster.isWorker) {
      process.on('message', (m) => {
        if (m === SHUTDOWN_MESSAGE) resolve('cluster shutdown');
      });
      // The primary gone (killed -9): nothing would stop this process otherwise.
      process.on('disconnect', () => resolve('the cluster primary went away'));
    }
  });
}
