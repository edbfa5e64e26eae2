// The stack's process supervisor: runs one Cairn process (`node --import tsx <entry>`) and starts it again whenever it
// dies (a crash, an OOM kill, `kill -9`), backing off from 1 s to 30 s while it keeps dying quickly. SIGTERM or SIGINT
// to the process group stop both: the process shuts down cleanly, and the supervisor exits with it.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';

const entry = process.argv[2];
if (!entry) {
  process.stderr.write('usage: supervise.ts <entry.ts>\n');
  process.exit(2);
}

const say = (msg: string, fields: Record<string, unknown> = {}) =>
  process.stderr.write(
    `${JSON.stringify({ level: 40, time: Date.now(), pid: process.pid, component: 'supervisor', entry, ...fields, msg })}\n`
  );

let child: ChildProcess | undefined;
let stopping = false;
let backoffMs = 1000;

function start(): void {
  const startedAt = Date.now();
  child = spawn(process.execPath, ['--import', 'tsx', entry!], { stdio: 'inherit' });
  child.once('exit', (code, signal) => {
    if (stopping) process.exit(code ?? 0);
    // A process that ran a while gets the shortest wait again.
    if (Date.now() - startedAt > 60_000) backoffMs = 1000;
    say(`process exited (${signal ?? `code ${code}`}); starting it again in ${backoffMs / 1000} s`, {
      child: child?.pid,
      code,
      signal,
    });
    setTimeout(start, backoffMs);
    backoffMs = Math.min(backoffMs * 2, 30_000);
  });
}

// `stack:down` signals the whole process group, so the process gets the signal itself (forwarding it again would be
// a second signal, which makes the stream consumer stop at once); the supervisor only stops restarting it.
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    stopping = true;
    if (!child || child.exitCode !== null || child.signalCode !== null) process.exit(0);
  });
}

start();
