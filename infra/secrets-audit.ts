// `npm run audit:secrets`: after a run of the stack (CI runs it after the demo, with the payload codec on), looks for
// every secret the stack holds in everything Cairn writes where people read: the process logs, `cairn config`, and
// every workflow history Temporal keeps (payloads decoded from base64, as `temporal workflow show` gives them, without
// the codec). Exits 1 naming where a secret was found.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../lib/config/index.js';
import { runMain } from '../lib/process/main.js';
import { ensureBinaries } from './stack/binaries.js';
import { stackDirs } from './stack/processes.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** The secrets to look for, each under a name that says which it is (never the secret itself). */
function secretsOf(config: ReturnType<typeof loadConfig>): Map<string, string> {
  const secrets = new Map<string, string>();
  if (config.store.secretKey) secrets.set('S3 secret key', config.store.secretKey);
  const password = new URL(config.database.url).password;
  if (password) secrets.set('PostgreSQL password', decodeURIComponent(password));
  const dir = join(config.home, 'secrets');
  for (const file of existsSync(dir) ? readdirSync(dir) : []) {
    const text = readFileSync(join(dir, file), 'utf8').trim();
    if (file.endsWith('-token')) secrets.set(`token ${file}`, text);
    else if (file === 'codec-key') secrets.set('payload codec key', text);
    else if (file.startsWith('signing'))
      secrets.set('signing private key', (JSON.parse(text) as { privateKey: string }).privateKey.split('\n')[1]!);
  }
  return secrets;
}

/** A history as text, with every base64 `data` field decoded beside it. */
function readable(json: string): string {
  const decoded: string[] = [];
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object')
      for (const [k, x] of Object.entries(v)) {
        if (k === 'data' && typeof x === 'string') decoded.push(Buffer.from(x, 'base64').toString('latin1'));
        else walk(x);
      }
  };
  walk(JSON.parse(json));
  return `${json}\n${decoded.join('\n')}`;
}

runMain('audit:secrets', async () => {
  const config = loadConfig();
  const secrets = secretsOf(config);
  const { temporal } = ensureBinaries(config.home, ['temporal']);
  const places = new Map<string, string>();
  const logs = stackDirs(config.home).logs;
  for (const f of existsSync(logs) ? readdirSync(logs) : [])
    places.set(`log ${f}`, readFileSync(join(logs, f), 'utf8'));
  places.set(
    'cairn config',
    execFileSync(process.execPath, ['--import', 'tsx', join(ROOT, 'cli/main.ts'), 'config'], { encoding: 'utf8' })
  );
  const address = ['--address', config.temporal.address, '--namespace', config.temporal.namespace];
  const listed = execFileSync(temporal, ['workflow', 'list', '--limit', '2000', '--output', 'json', ...address], {
    encoding: 'utf8',
    maxBuffer: 256 << 20,
  });
  const runs = (JSON.parse(listed || '[]') as { execution: { workflowId: string; runId: string } }[]).map(
    (w) => w.execution
  );
  for (const { workflowId, runId } of runs) {
    const shown = execFileSync(
      temporal,
      ['workflow', 'show', '--workflow-id', workflowId, '--run-id', runId, '--output', 'json', ...address],
      { encoding: 'utf8', maxBuffer: 256 << 20 }
    );
    places.set(`history ${workflowId}/${runId}`, readable(shown));
  }
  const found: string[] = [];
  for (const [where, text] of places)
    for (const [what, secret] of secrets)
      if (secret.length >= 8 && text.includes(secret)) found.push(`${what} in ${where}`);
  process.stdout.write(
    `looked for ${secrets.size} secrets (${[...secrets.keys()].join(', ')}) in ${places.size} places: ` +
      `${places.size - runs.length} logs and outputs, ${runs.length} workflow histories\n`
  );
  if (found.length) {
    process.stdout.write(`FOUND:\n${found.map((f) => `  ${f}`).join('\n')}\n`);
    process.exitCode = 1;
  } else process.stdout.write('none found\n');
});
