// The local stack: `up`, `down`, `status` (npm run stack:up|stack:down|stack:status).
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../lib/config/index.js';
import type { CairnConfig } from '../lib/config/index.js';
import { probeObjectStore, probePostgres, probeTemporal } from '../lib/health/probes.js';
import { runMain } from '../lib/process/main.js';
import { ensureSigningKey } from '../lib/signing/packages.js';
import { formatTable } from '../cli/table.js';
import { ensureBinaries } from './stack/binaries.js';
import { ensureLocalS3Secret, objectStoreUp, postgresUp, temporalUp } from './stack/components.js';
import type { Say } from './stack/components.js';
import { ownedNames, ownedPid, startDetached, stackDirs, stopOwned, waitUntil } from './stack/processes.js';

const say: Say = (line) => process.stdout.write(`${line}\n`);
const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** The processes `npm run demo` starts beside the services: the workers and the online server. */
export const PROCESSES = [
  { name: 'worker-cairn', entry: 'workers/cairn.ts', ready: '"worker running"' },
  { name: 'worker-cairn-train', entry: 'workers/cairn-train.ts', ready: '"worker running"' },
  { name: 'serving', entry: 'serving/main.ts', ready: '"msg":"serving"' },
] as const;

export async function stackUp(config: CairnConfig): Promise<void> {
  const dirs = stackDirs(config.home);
  ensureLocalS3Secret(config);
  const key = ensureSigningKey(config);
  if (key)
    say(
      `signing: made a development key ${key.keyId} (${key.signer}) in ${config.signing.keyFile}, trusted in ${config.signing.trustDir}`
    );
  // Temporal and the object store start in parallel; both take seconds.
  await Promise.all([temporalUp(config, dirs, say), objectStoreUp(config, dirs, say), postgresUp(config, dirs, say)]);
  say(`stack is up: Temporal UI http://127.0.0.1:${config.temporal.uiPort}, logs in ${dirs.logs}`);
}

/** Starts the two workers in the background unless they run already (the demo leaves them running). */
export async function processesUp(config: CairnConfig): Promise<void> {
  const dirs = stackDirs(config.home);
  for (const { name, entry, ready } of PROCESSES) {
    if (ownedPid(dirs, name)) {
      say(`${name}: already running (pid ${ownedPid(dirs, name)})`);
      continue;
    }
    const log = join(dirs.logs, `${name}.log`);
    const logStart = existsSync(log) ? statSync(log).size : 0;
    // Under the stack's supervisor: a process that dies is started again (infra/supervise.ts).
    startDetached(
      dirs,
      name,
      process.execPath,
      ['--import', 'tsx', join(ROOT, 'infra/supervise.ts'), join(ROOT, entry)],
      {
        env: { ...process.env, CAIRN_HOME: config.home },
        cwd: ROOT,
      }
    );
    const newLog = () => readFileSync(log).subarray(logStart).toString('utf8');
    await waitUntil(
      name,
      async () => {
        if (!ownedPid(dirs, name))
          throw new Error(`${name} exited; see ${log}:\n${newLog().trim().split('\n').slice(-6).join('\n')}`);
        return newLog().includes(ready);
      },
      60_000,
      log
    );
    say(`${name}: started (pid ${ownedPid(dirs, name)}, log ${log})`);
  }
}

export async function stackDown(config: CairnConfig): Promise<void> {
  const dirs = stackDirs(config.home);
  const names = ownedNames(dirs);
  // Workers and the server first so they finish their work against live services.
  const ours = new Set<string>(PROCESSES.map((p) => p.name));
  const order = [...names.filter((n) => ours.has(n)), ...names.filter((n) => !ours.has(n))];
  for (const name of order) if (await stopOwned(dirs, name)) say(`${name}: stopped`);
  say(order.length ? 'stack is down' : 'nothing started by this stack is running');
}

export async function stackStatus(config: CairnConfig): Promise<boolean> {
  const dirs = stackDirs(config.home);
  const probes = await Promise.all([probeTemporal(config), probePostgres(config), probeObjectStore(config)]);
  const rows = [['component', 'state', 'address', 'owner', 'detail']];
  for (const p of probes) {
    const owner = { temporal: 'temporal', postgres: 'postgres', 'object-store': 'seaweedfs' }[p.component];
    const pid = ownedPid(dirs, owner);
    rows.push([p.component, p.ok ? 'up' : 'DOWN', p.address, pid ? `pid ${pid}` : p.ok ? 'external' : '-', p.detail]);
  }
  for (const { name } of PROCESSES) {
    const pid = ownedPid(dirs, name);
    rows.push([
      name,
      pid ? 'up' : 'stopped',
      '-',
      pid ? `pid ${pid}` : '-',
      pid ? join(dirs.logs, `${name}.log`) : 'npm run demo starts it',
    ]);
  }
  const temporalUp = probes[0]!.ok;
  rows.push(['temporal-ui', temporalUp ? 'up' : 'DOWN', `http://127.0.0.1:${config.temporal.uiPort}`, '-', 'Web UI']);
  say(formatTable(rows));
  return probes.every((p) => p.ok);
}

const isEntry = process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1];
if (isEntry) {
  runMain('stack', async () => {
    const command = process.argv[2];
    const config = loadConfig();
    if (command === 'install') ensureBinaries(config.home, ['temporal', 'weed'], say);
    else if (command === 'up') await stackUp(config);
    else if (command === 'down') await stackDown(config);
    else if (command === 'status') process.exitCode = (await stackStatus(config)) ? 0 : 1;
    else throw new Error(`usage: stack install|up|down|status (got ${command ?? 'nothing'})`);
  });
}
