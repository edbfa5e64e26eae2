import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listAudit } from '../../lib/audit/log.js';
import { createToken } from '../../lib/auth/tokens.js';
import { checkPromptContent } from '../../lib/prompts/prompt.js';
import { createPromptVersion, listPromptVersions, resolvePrompt, setPromptAlias } from '../../lib/prompts/registry.js';
import type { Server } from '../../serving/server.js';
import { ROOT, runEntry } from '../helpers/cli.js';
import { startTestServer } from '../helpers/serving.js';
import { useServices, withWorker } from '../helpers/temporal.js';
import { checkNowSignal } from '../../workflows/monitor-model.js';
import { monitorPrompt } from '../../workflows/monitor-alias.js';
import { penguinIsland } from '../../examples/prompts/penguin-island.js';

const ctx = useServices();
const { deps } = ctx;
const V1 = 'test/fixtures/prompts/answer-v1.json';
const V2 = 'test/fixtures/prompts/answer-v2.json';
const cairn = (...args: string[]) => runEntry('cli/main.ts', args);

let server: Server;
let base: string;
beforeAll(async () => {
  ({ server, base } = await startTestServer(deps, { reloadInterval: 200 }));
});
afterAll(async () => {
  await server?.close();
});

async function render(name: string, token: string, body: unknown) {
  const res = await fetch(`${base}/v1/prompts/${name}/render`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe('prompt registry', () => {
  it('versions by content: create, the same content again, a new version, diff, render, alias, all by CLI', async () => {
    const name = `answer-${randomUUID().slice(0, 8)}`;
    const first = await cairn('prompts', 'create', name, '--file', V1, '-m', 'first version', '--json');
    expect(first.code, first.stderr).toBe(0);
    const v1 = JSON.parse(first.stdout) as { version: number; digest: string; author: string; created: boolean };
    expect(v1).toMatchObject({ version: 1, author: 'tester', created: true });

    const again = await cairn('prompts', 'create', name, '--file', V1, '-m', 'the same again');
    expect(again.stdout).toContain(`unchanged: ${name}@1 has this content already (${v1.digest})`);
    const second = await cairn('prompts', 'create', name, '--file', V2, '-m', 'one sentence, warmer');
    expect(second.stdout).toMatch(new RegExp(`created ${name}@2 \\(sha256:[0-9a-f]{64}\\) by tester`));

    const diff = await cairn('prompts', 'diff', name, '1', '2');
    expect(diff.code, diff.stderr).toBe(0);
    expect(diff.stdout).toContain(`--- ${name}@1`);
    expect(diff.stdout).toContain('-You answer questions about penguins.');
    expect(diff.stdout).toContain('+You answer questions about penguins, in one sentence.');
    expect(diff.stdout).toContain('+  "temperature": 0.2');

    const rendered = await cairn(
      'prompts',
      'render',
      `${name}@1`,
      '--vars',
      '{"question":"Do penguins fly?","language":"English"}'
    );
    expect(rendered.stdout).toBe(
      'You answer questions about penguins.\nAnswer in English.\nQuestion: Do penguins fly?\n'
    );
    const missing = await cairn('prompts', 'render', name, '--vars', '{"language":"Klingon"}');
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain('question: missing');
    expect(missing.stderr).toContain('language:');

    // Moving an alias needs release:<prompt>; the CLI token has no role.
    const refusedAlias = await cairn('prompts', 'alias', name, 'production', '1');
    expect(refusedAlias.code).toBe(4);
    expect(refusedAlias.stderr).toContain(`release:${name}`);
    const releaser = (await createToken(deps.db, 'prompt-releaser', [`release:${name}`])).token;
    const moved = await runEntry('cli/main.ts', ['prompts', 'alias', name, 'production', '1'], {
      CAIRN_TOKEN: releaser,
    });
    expect(moved.stdout).toContain(`${name}@production -> 1, by prompt-releaser`);

    const shown = await cairn('prompts', 'show', `${name}@production`, '--json');
    const { version, versions } = JSON.parse(shown.stdout) as {
      version: { version: number };
      versions: { version: number; aliases: string[]; message: string }[];
    };
    expect(version.version).toBe(1);
    expect(versions.map((v) => [v.version, v.aliases, v.message])).toEqual([
      [2, [], 'one sentence, warmer'],
      [1, ['production'], 'first version'],
    ]);
    const audit = await listAudit(deps.db, { subject: name });
    expect(audit.map((e) => [e.action, e.subject, e.actor])).toEqual([
      ['prompt.alias.moved', `${name}@production`, 'prompt-releaser'],
      ['prompt.version', `${name}@2`, 'tester'],
      ['prompt.version', `${name}@1`, 'tester'],
    ]);
  });

  it("pushes a project's definePrompt as a version: the same code gives the same version", async () => {
    const env = { CAIRN_PROJECT: `${ROOT}/examples` };
    const push = () =>
      runEntry('cli/main.ts', ['prompts', 'create', 'penguin-island', '-m', 'from code', '--json'], env);
    const first = await push();
    expect(first.code, first.stderr).toBe(0);
    const pushed = JSON.parse(first.stdout) as { version: number; digest: string };
    expect(pushed.digest).toBe(penguinIsland.digest);
    const again = JSON.parse((await push()).stdout) as { version: number; created: boolean };
    expect(again).toMatchObject({ version: pushed.version, created: false });
    const rendered = await cairn(
      'prompts',
      'render',
      `penguin-island@${pushed.version}`,
      '--vars',
      '{"species":"Gentoo","beak":46.1,"mass":4500}'
    );
    expect(rendered.stdout).toBe(
      'A Gentoo penguin has a beak 46.1 mm long and weighs 4500 g.\nOn which island of the Palmer Archipelago was it recorded?\n'
    );
    const unknown = await runEntry('cli/main.ts', ['prompts', 'create', 'no-such-prompt', '-m', 'x'], env);
    expect(unknown.stderr).toContain('the project defines no prompt no-such-prompt');
  });

  it('renders online by alias (default production) or version, token-scoped; a missing variable is a 400 naming it', async () => {
    const name = `render-${randomUUID().slice(0, 8)}`;
    const content = (file: string) => checkPromptContent(JSON.parse(readFileSync(file, 'utf8')), file);
    const by = { author: 'test', message: 'm' };
    await createPromptVersion(deps.db, name, content(V1), by);
    const v2 = (await createPromptVersion(deps.db, name, content(V2), by)).version;
    const token = (await createToken(deps.db, 'prompt-client', [`render:${name}`])).token;
    const variables = { question: 'Do penguins fly?', language: 'French' };

    // No production alias yet: nothing to serve by default.
    expect(await render(name, token, { variables })).toMatchObject({
      status: 404,
      body: { error: `prompt ${name} has no alias production` },
    });
    expect(await render(name, token, { variables, version: 2 })).toEqual({
      status: 200,
      body: {
        prompt: name,
        version: 2,
        digest: v2.digest,
        model: { name: 'penguin-chat', temperature: 0.2, maxTokens: 256 },
        text: 'You answer questions about penguins, in one sentence.\nAnswer in French.\nQuestion: Do penguins fly?',
      },
    });
    await setPromptAlias(deps.db, name, 'production', 1, 'test');
    expect(await render(name, token, { variables })).toMatchObject({
      status: 200,
      body: { version: 1, alias: 'production' },
    });

    const missing = await render(name, token, { variables: { language: 'French' } });
    expect(missing.status).toBe(400);
    expect(missing.body.problems).toEqual([{ field: 'question', message: 'missing' }]);
    expect(missing.body.error).toContain(`the variables do not fit ${name}@1`);

    // The alias moves: the server serves the new version once its cached resolution expires (reloadInterval).
    await setPromptAlias(deps.db, name, 'production', 2, 'test');
    await expect.poll(async () => (await render(name, token, { variables })).body.version, { timeout: 5000 }).toBe(2);

    expect((await render(name, 'not-a-token', { variables })).status).toBe(401);
    const other = (await createToken(deps.db, 'other-client', ['render:someone-else'])).token;
    expect((await render(name, other, { variables })).status).toBe(403);
    expect(
      (await render('no-such-prompt', (await createToken(deps.db, 'any', ['render:*'])).token, { variables })).status
    ).toBe(404);
    expect(await resolvePrompt(deps.db, { prompt: name, alias: 'production' })).toMatchObject({ version: 2 });

    // Render outcomes in the server's metrics: the refusal rate of each version is there to alert on.
    const metrics = await (await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${token}` } })).text();
    const count = (version: string, outcome: string) =>
      Number(
        new RegExp(
          `cairn_serving_prompt_renders_total\\{prompt="${name}",version="${version}",outcome="${outcome}"\\} (\\d+)`
        ).exec(metrics)?.[1] ?? 0
      );
    expect(count('-', 'unknown')).toBe(1);
    expect(count('1', 'refused')).toBe(1);
    expect(count('1', 'rendered')).toBeGreaterThanOrEqual(1);
    expect(count('2', 'rendered')).toBeGreaterThanOrEqual(2);
    expect(metrics).toMatch(
      /cairn_serving_prompt_renders_total\{prompt="\(unknown\)",version="-",outcome="unknown"\} 1/
    );
    expect((await listPromptVersions(deps.db, name)).length).toBe(2);
  });
});

describe('prompt monitoring (monitorPrompt)', () => {
  it('reports the render error rate of the version an alias serves, and alerts when too many renders are refused', async () => {
    const name = `watched-${randomUUID().slice(0, 8)}`;
    const content = checkPromptContent(JSON.parse(readFileSync(V1, 'utf8')), V1);
    await createPromptVersion(deps.db, name, content, { author: 'test', message: 'm' });
    await setPromptAlias(deps.db, name, 'production', 1, 'test');
    const token = (await createToken(deps.db, 'prompt-client', [`render:${name}`])).token;
    const good = { variables: { question: 'Do penguins fly?', language: 'French' } };
    const bad = { variables: { question: 'Do penguins fly?' } };
    const renderAll = async (bodies: unknown[]) => {
      for (const body of bodies) await render(name, token, body);
    };
    const logged = async () =>
      (
        await deps.db.query<{ n: number }>('SELECT count(*)::int AS n FROM cairn.prompt_renders WHERE name = $1', [
          name,
        ])
      ).rows[0]!.n;
    await withWorker(deps, async (taskQueue) => {
      const monitor = await ctx.client.workflow.start(monitorPrompt, {
        taskQueue,
        workflowId: `monitor-prompt-${name}`,
        args: [{ prompt: name, interval: '1h', policy: { minRenders: 20 } }],
      });
      const check = async (seq: number) => {
        await monitor.signal(checkNowSignal);
        await expect
          .poll(async () => (await monitor.query<{ results: { seq?: number } }>('status')).results.seq, {
            timeout: 30_000,
          })
          .toBe(seq);
        return (await monitor.query<{ results: { last: { status: string; reason: string } } }>('status')).results.last;
      };
      await renderAll(Array.from({ length: 24 }, () => good));
      await expect.poll(logged, { timeout: 15_000 }).toBe(24);
      expect(await check(1)).toMatchObject({ status: 'ok', reason: `${name}@1: 24 renders, nothing out of bounds` });

      await renderAll([...Array.from({ length: 16 }, () => good), ...Array.from({ length: 8 }, () => bad)]);
      await expect.poll(logged, { timeout: 15_000 }).toBe(48);
      expect(await check(2)).toMatchObject({
        status: 'alert',
        reason: `${name}@1: renders refused (variables that do not fit) 33.3% > 5%`,
      });
      const reports = await cairn('prompts', 'reports', name);
      expect(reports.stdout).toMatch(/2\s+1\s+alert\s+\S+\s+watched-\S+@1: renders refused/);
      await monitor.terminate('test over');
    });
  });
});
