import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExternalTrainerError, trainExternal } from '../../../lib/training/external.js';
import type { CheckpointFiles, ExternalTrainingInput } from '../../../lib/training/external.js';
import { PythonEnvError, pythonLock } from '../../../lib/training/python-env.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cairn-external-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const matrix = { rows: 3, names: ['a', 'b'], columns: [Float64Array.of(1, 2, 3), Float64Array.of(4, 5, 6)] };

/** Runs `script` (JavaScript, run by node with CAIRN_SPEC set) as the external trainer. */
async function run(script: string, options: Partial<ExternalTrainingInput> = {}) {
  const file = join(dir, `trainer-${Math.random().toString(36).slice(2)}.mjs`);
  await writeFile(
    file,
    `import fs from 'node:fs';\nconst spec = JSON.parse(fs.readFileSync(process.env.CAIRN_SPEC, 'utf8'));\n${script}`
  );
  const progress: [number, number][] = [];
  const checkpoints: [number, CheckpointFiles][] = [];
  const workdir = join(dir, 'work');
  const result = trainExternal({
    command: [process.execPath, file],
    cwd: dir,
    workdir,
    task: 'regression',
    params: { depth: 3 },
    seed: 7,
    train: { matrix, y: Float64Array.of(1, 2, 3) },
    test: { matrix, y: Float64Array.of(1, 2, 3) },
    silenceMs: 5_000,
    onProgress: (round, total) => progress.push([round, total]),
    onCheckpoint: async (round, files) => void checkpoints.push([round, files]),
    logger: pino({ level: 'silent' }),
    ...options,
  });
  return { result, progress, checkpoints, workdir };
}

async function failure(promise: Promise<unknown>): Promise<ExternalTrainerError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e
  );
  expect(err).toBeInstanceOf(ExternalTrainerError);
  return err as ExternalTrainerError;
}

describe('the external trainer', () => {
  it('hands the command its spec and Parquet inputs, turns progress lines into progress and stores its checkpoints', async () => {
    const { result, progress, checkpoints, workdir } = await run(`
      const seen = { spec, train: fs.statSync(spec.train).size, test: fs.statSync(spec.test).size };
      fs.writeFileSync(spec.checkpoints + '/state.json', JSON.stringify(seen));
      console.log('loading');
      console.log(JSON.stringify({ round: 1, total: 2, checkpoint: true }));
      console.log(JSON.stringify({ round: 2, total: 2 }));
      process.exit(3);`);
    const err = await failure(result);
    expect(progress).toEqual([
      [1, 2],
      [2, 2],
    ]);
    expect(checkpoints.map(([round]) => round)).toEqual([1]);
    const seen = JSON.parse(Buffer.from(checkpoints[0]![1]['state.json']!, 'base64').toString()) as {
      spec: Record<string, unknown>;
      train: number;
    };
    expect(seen.spec).toMatchObject({
      task: 'regression',
      params: { depth: 3 },
      seed: 7,
      features: ['a', 'b'],
      target: '__target__',
      resume: null,
    });
    expect(seen.train).toBeGreaterThan(0);
    expect(err.message).toMatch(/^`.*trainer-.*\.mjs` exited with code 3$/);
    expect(err.retryable).toBe(false);
    // Nothing of the attempt is left behind.
    expect(existsSync(workdir)).toBe(false);
  });

  it('restores a checkpoint into the checkpoint directory and names its round in the spec', async () => {
    const files = { 'state.json': Buffer.from('{"round":4}').toString('base64') };
    const { result } = await run(
      `console.error('resume', spec.resume, fs.readFileSync(spec.checkpoints + '/state.json', 'utf8')); process.exit(1);`,
      { resume: { round: 4, files } }
    );
    expect((await failure(result)).stderr).toEqual(['resume 4 {"round":4}']);
  });

  it('a failing command fails once, naming the command and the last lines of its stderr', async () => {
    const { result } = await run(
      `for (let i = 0; i < 30; i++) console.error('line ' + i); console.error('ValueError: bad input'); process.exit(1);`
    );
    const err = await failure(result);
    expect(err.type).toBe('ExternalTrainerFailed');
    expect(err.retryable).toBe(false);
    expect(err.stderr).toHaveLength(20);
    expect(err.message).toContain('exited with code 1; last lines of its stderr:\n  line 11\n');
    expect(err.message.endsWith('ValueError: bad input')).toBe(true);
    expect(err.failureDetails()).toMatchObject({ command: expect.stringContaining('trainer-') });
  });

  it('a command that stops reporting progress is killed at the heartbeat timeout, with everything it started', async () => {
    const started = Date.now();
    const { result } = await run(
      `import { spawn } from 'node:child_process';
       const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
       fs.writeFileSync(${JSON.stringify(join(dir, 'child.pid'))}, String(child.pid));
       console.log(JSON.stringify({ round: 1, total: 10 }));
       console.error('stuck');
       setInterval(() => {}, 1000);`,
      {
        silenceMs: 1_000,
        onCheckpoint: async () => undefined,
      }
    );
    const err = await failure(result);
    expect(err.message).toMatch(
      /printed no progress for 1s \(the heartbeat timeout\) and was killed; last lines of its stderr:\n {2}stuck$/
    );
    expect(err.retryable).toBe(false);
    expect(Date.now() - started).toBeLessThan(10_000);
    // Its own child went with it (the whole process group is killed).
    const pid = Number(await readFile(join(dir, 'child.pid'), 'utf8'));
    await new Promise((r) => setTimeout(r, 200));
    // Gone, or a zombie no one has reaped yet (a container's init may not reap).
    const state = await readFile(`/proc/${pid}/stat`, 'utf8').then(
      (stat) => stat.slice(stat.lastIndexOf(')') + 2)[0],
      () => 'gone'
    );
    expect(['gone', 'Z']).toContain(state);
  });

  it('a command that exits 0 without a model, or with one that is not ONNX, fails and names what is wrong', async () => {
    const none = await failure((await run(`console.error('done');`)).result);
    expect(none.message).toMatch(/exited 0 but wrote no model at .*model\.onnx; last lines of its stderr:\n {2}done$/);
    const garbage = await failure((await run(`fs.writeFileSync(spec.output, 'not a model');`)).result);
    expect(garbage.message).toMatch(/wrote a model Cairn cannot serve: not an ONNX model onnxruntime can load/);
    expect(garbage.retryable).toBe(false);
  });

  it('a command that cannot start says so', async () => {
    const { result } = await run('', { command: [join(dir, 'no-such-program')] });
    expect((await failure(result)).message).toMatch(/could not start: spawn .*no-such-program ENOENT/);
  });

  it('a command killed from outside (the OOM killer) may be retried', async () => {
    const { result } = await run(`process.kill(process.pid, 'SIGKILL');`);
    const err = await failure(result);
    expect(err.message).toMatch(/was killed by SIGKILL$/);
    expect(err.retryable).toBe(true);
  });
});

describe('Python environments', () => {
  it('locks a fully pinned requirements file: the digest depends on the pins and the interpreter, not on order or comments', async () => {
    const a = join(dir, 'a.txt');
    const b = join(dir, 'b.txt');
    await writeFile(a, '# training\nnumpy==2.4.6\nScikit_Learn==1.9.1  # the model\n');
    await writeFile(b, 'scikit-learn==1.9.1 --hash=sha256:abc\n\nnumpy==2.4.6\n');
    const [la, lb] = await Promise.all([pythonLock(a), pythonLock(b)]);
    expect(la.packages).toEqual(['numpy==2.4.6', 'scikit-learn==1.9.1']);
    expect(la.digest).toBe(lb.digest);
    expect(la.python).toMatch(/^3\.\d+\.\d+$/);
    await writeFile(b, 'numpy==2.4.5\nscikit-learn==1.9.1\n');
    expect((await pythonLock(b)).digest).not.toBe(la.digest);
  });

  it('refuses a requirement that is not pinned, naming the file and line', async () => {
    const file = join(dir, 'loose.txt');
    await writeFile(file, 'numpy==2.4.6\nscikit-learn>=1.5\n');
    const err = await pythonLock(file).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PythonEnvError);
    expect((err as Error).message).toBe(
      `${file}:2: "scikit-learn>=1.5" is not pinned; write every package as name==version (pip freeze)`
    );
    await expect(pythonLock(join(dir, 'missing.txt'))).rejects.toThrow(/cannot read requirements .*missing\.txt/);
    expect(await readFile(file, 'utf8')).toContain('scikit-learn>=1.5');
  });
});
