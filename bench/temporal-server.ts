// The Temporal server a benchmark talks to: the local stack's when it answers, else a dev server of our own from
// the installed `temporal` binary (no download), started on core 0 when there are two cores to pin apart.
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Runtime, DefaultLogger } from '@temporalio/worker';
import type { CairnConfig } from '../lib/config/index.js';
import { probeTemporal } from '../lib/health/probes.js';
import { ensureBinaries } from '../infra/stack/binaries.js';
import { ownedPid, stackDirs } from '../infra/stack/processes.js';
import { CAIRN_SEARCH_ATTRIBUTES } from '../workflows/search-attributes.js';

export interface BenchTemporal {
  address: string;
  namespace: string;
  /** `stack` when the local stack's server answered, `own` when this benchmark started one. */
  origin: 'stack' | 'own';
  /** The stack's server process, to pin apart from the benchmark (undefined when not ours to pin). */
  pid?: number;
  teardown(): Promise<void>;
}

let runtimeInstalled = false;

/** Core and SDK errors only: a benchmark's output is its table. Call before creating any worker. */
export function quietTemporalRuntime(): void {
  if (runtimeInstalled) return;
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  runtimeInstalled = true;
}

export async function benchTemporal(config: CairnConfig): Promise<BenchTemporal> {
  quietTemporalRuntime();
  const probe = await probeTemporal(config);
  if (probe.ok) {
    return {
      address: config.temporal.address,
      namespace: config.temporal.namespace,
      origin: 'stack',
      pid: ownedPid(stackDirs(config.home), 'temporal'),
      teardown: async () => undefined,
    };
  }
  let { temporal } = ensureBinaries(config.home, ['temporal']);
  if (cpus().length >= 2) {
    // The server lives on core 0 for its whole life; the benchmark pins itself to core 1 (bench/cores.ts).
    const dir = join(config.home, 'bench');
    mkdirSync(dir, { recursive: true });
    const wrapper = join(dir, 'temporal-on-core-0.sh');
    writeFileSync(wrapper, `#!/bin/sh\nexec taskset -c 0 ${JSON.stringify(temporal)} "$@"\n`);
    chmodSync(wrapper, 0o755);
    temporal = wrapper;
  }
  const env = await TestWorkflowEnvironment.createLocal({
    server: { executable: { type: 'existing-path', path: temporal }, searchAttributes: CAIRN_SEARCH_ATTRIBUTES },
  });
  return {
    address: env.address,
    namespace: env.namespace ?? 'default',
    origin: 'own',
    teardown: () => env.teardown(),
  };
}
