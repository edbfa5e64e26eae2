// Checks the running local stack the way a user would (CI runs it after `npm run demo`):
// `stack:up` again is harmless, `temporal workflow start --type hello` completes and the artifact and row it names
// exist, Temporal keeps its history across a restart, and `stack:down` leaves nothing it started running.
import { execFileSync } from 'node:child_process';
import assert from 'node:assert/strict';
import { createArtifactStore } from '../lib/artifacts/index.js';
import { loadConfig } from '../lib/config/index.js';
import { createPool } from '../lib/db/pool.js';
import { runMain } from '../lib/process/main.js';
import { ensureBinaries } from './stack/binaries.js';
import { isAlive, ownedNames, ownedPid, stackDirs } from './stack/processes.js';
import { stackDown, stackStatus, stackUp, processesUp } from './stack.js';

const step = (line: string) => process.stdout.write(`\n== ${line}\n`);

runMain('smoke', async () => {
  const config = loadConfig();
  const dirs = stackDirs(config.home);
  const { temporal } = ensureBinaries(config.home, ['temporal']);
  const cli = (...args: string[]) =>
    execFileSync(temporal, [...args, '--address', config.temporal.address, '--namespace', config.temporal.namespace], {
      encoding: 'utf8',
    });

  step('stack:up on a running stack');
  await stackUp(config);
  await processesUp(config);
  assert.ok(await stackStatus(config), 'stack:status reports a component down');

  step('temporal workflow execute --type hello');
  const workflowId = `smoke-${Date.now()}`;
  const out = JSON.parse(
    cli(
      'workflow',
      'execute',
      '--type',
      'hello',
      '--task-queue',
      config.temporal.taskQueue,
      '-w',
      workflowId,
      '-i',
      '{"name":"smoke"}',
      '-o',
      'json'
    )
  );
  assert.equal(out.status, 'COMPLETED');
  const { artifact, row } = out.result;
  const stored = await createArtifactStore(config).getBytes(artifact.digest);
  assert.equal(JSON.parse(stored.toString('utf8')).workflowId, workflowId);
  const db = createPool(config);
  try {
    const { rows } = await db.query('SELECT artifact_digest FROM cairn.greetings WHERE id = $1 AND workflow_id = $2', [
      row.id,
      workflowId,
    ]);
    assert.deepEqual(rows, [{ artifact_digest: artifact.digest }]);
  } finally {
    await db.end();
  }
  process.stdout.write(`${workflowId}: artifact ${artifact.digest} and row ${row.table}#${row.id} exist\n`);

  step('restart keeps Temporal state');
  const started = ownedNames(dirs).map((name) => ownedPid(dirs, name)!);
  await stackDown(config);
  for (const pid of started) assert.ok(!isAlive(pid), `pid ${pid} still running after stack:down`);
  assert.deepEqual(ownedNames(dirs), []);
  await stackUp(config);
  assert.match(cli('workflow', 'describe', '-w', workflowId), /COMPLETED/);

  step('stack:down');
  const again = ownedNames(dirs).map((name) => ownedPid(dirs, name)!);
  await stackDown(config);
  for (const pid of again) assert.ok(!isAlive(pid), `pid ${pid} still running after stack:down`);
  process.stdout.write('smoke: all checks passed\n');
});
