// `cairn prompts …`: the prompt registry (versions, aliases, diffs) and rendering.
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { loadConfig } from '../lib/config/index.js';
import { checkPromptContent, diffPromptVersions, PROMPT_NAME, renderPrompt } from '../lib/prompts/prompt.js';
import type { PromptContent } from '../lib/prompts/prompt.js';
import {
  createPromptVersion,
  formatPromptRef,
  listPrompts,
  listPromptVersions,
  parsePromptRef,
  resolvePrompt,
  setPromptAlias,
} from '../lib/prompts/registry.js';
import { requirePrincipal, requireRole } from './auth.js';
import { json, print, UsageError, when, withDb } from './io.js';
import { cliProject } from './pipelines.js';
import { formatTable, short } from './table.js';

/** The content of `--file` (JSON: template, variables as JSON Schema, model), or of the project's `definePrompt`. */
async function contentFor(name: string, file: string | undefined): Promise<PromptContent> {
  if (file) {
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(file, 'utf8'));
    } catch (err) {
      throw new UsageError(`${file}: ${(err as Error).message}`);
    }
    return checkPromptContent(raw, file);
  }
  const defined = (await cliProject(loadConfig())).prompts.get(name);
  if (!defined)
    throw new UsageError(
      `the project defines no prompt ${name} (definePrompt in cairn.config.ts); or push one from a file with --file`
    );
  const { template, variables, model } = defined;
  return { template, variables, model };
}

function variablesOf(text: string | undefined, file: string | undefined): unknown {
  const source = file ? readFileSync(file, 'utf8') : (text ?? '{}');
  try {
    return JSON.parse(source);
  } catch (err) {
    throw new UsageError(`${file ?? '--vars'}: not JSON: ${(err as Error).message}`);
  }
}

export function addPromptCommands(program: Command): void {
  const prompts = program.command('prompts').description('versioned prompts: create, list, show, diff, render, alias');

  prompts
    .command('create')
    .description(
      "a new version of a prompt from the project's definePrompt or a JSON file (same content: same version)"
    )
    .argument('<name>', 'prompt name')
    .option('--file <path>', 'JSON file: {"template", "variables" (JSON Schema), "model": {"name", ...}}')
    .requiredOption('-m, --message <text>', 'what changed, recorded with the version')
    .option('--json', 'print JSON')
    .action(async (name: string, o: { file?: string; message: string; json?: boolean }) => {
      if (!PROMPT_NAME.test(name)) throw new UsageError(`prompt name ${JSON.stringify(name)}: expected ${PROMPT_NAME}`);
      const content = await contentFor(name, o.file);
      await withDb(async (db) => {
        const { principal } = await requirePrincipal(db);
        const { version, created } = await createPromptVersion(db, name, content, {
          author: principal,
          message: o.message,
        });
        if (o.json) return json({ ...version, created });
        print(
          created
            ? `created ${name}@${version.version} (${version.digest}) by ${principal}`
            : `unchanged: ${name}@${version.version} has this content already (${version.digest})`
        );
      });
    });

  prompts
    .command('list')
    .description('prompts: versions, latest, aliases')
    .option('--json', 'print JSON')
    .action(async (o: { json?: boolean }) => {
      await withDb(async (db) => {
        const rows = await listPrompts(db);
        if (o.json) return json(rows);
        if (!rows.length) return print('no prompts yet: cairn prompts create <name> -m "first version"');
        print(
          formatTable([
            ['PROMPT', 'VERSIONS', 'LATEST', 'DIGEST', 'MODEL', 'ALIASES', 'BY', 'AT'],
            ...rows.map((r) => [
              r.prompt,
              String(r.versions),
              String(r.latest.version),
              short(r.latest.digest),
              r.latest.model.name,
              Object.entries(r.aliases)
                .map(([a, v]) => `${a}=${v}`)
                .join(' ') || '-',
              r.latest.author,
              when(r.latest.createdAt),
            ]),
          ])
        );
      });
    });

  prompts
    .command('show')
    .description('a prompt version (name, name@3 or name@production; default the latest) and the versions of it')
    .argument('<ref>', 'prompt reference')
    .option('--json', 'print JSON')
    .action(async (text: string, o: { json?: boolean }) => {
      const ref = parsePromptRef(text);
      await withDb(async (db) => {
        const version = await resolvePrompt(db, ref);
        const versions = await listPromptVersions(db, ref.prompt);
        if (o.json) return json({ version, versions });
        print(`prompt ${version.prompt}@${version.version}  ${version.digest}`);
        print(`  by ${version.author} at ${when(version.createdAt)}: ${version.message}`);
        print(`  model ${JSON.stringify(version.model)}`);
        print(`  variables ${JSON.stringify(version.variables.properties)}`);
        print('  template:');
        for (const line of version.template.split('\n')) print(`    ${line}`);
        print('');
        print(
          formatTable([
            ['VERSION', 'DIGEST', 'ALIASES', 'BY', 'AT', 'MESSAGE'],
            ...versions.map((v) => [
              String(v.version),
              short(v.digest),
              v.aliases.join(' ') || '-',
              v.author,
              when(v.createdAt),
              v.message,
            ]),
          ])
        );
      });
    });

  prompts
    .command('diff')
    .description('a unified diff between two versions of a prompt (template, model parameters, variables)')
    .argument('<name>', 'prompt name')
    .argument('<from>', 'version number or alias')
    .argument('<to>', 'version number or alias')
    .action(async (name: string, from: string, to: string) => {
      await withDb(async (db) => {
        const [a, b] = await Promise.all([from, to].map((at) => resolvePrompt(db, parsePromptRef(`${name}@${at}`))));
        const patch = diffPromptVersions(
          { ...a!, label: `${name}@${a!.version}` },
          { ...b!, label: `${name}@${b!.version}` }
        );
        print(patch || `${name}@${a!.version} and ${name}@${b!.version} are the same (${a!.digest})`);
      });
    });

  prompts
    .command('render')
    .description('render a prompt version with variables (refused, naming them, when missing or mistyped)')
    .argument('<ref>', 'name, name@3 or name@production (default the latest)')
    .option('--vars <json>', 'the variables as a JSON object')
    .option('--vars-file <path>', 'the variables from a JSON file')
    .option('--json', 'print JSON (the text, the version that rendered it, the model parameters)')
    .action(async (text: string, o: { vars?: string; varsFile?: string; json?: boolean }) => {
      const ref = parsePromptRef(text);
      const variables = variablesOf(o.vars, o.varsFile);
      await withDb(async (db) => {
        const version = await resolvePrompt(db, ref);
        const rendered = renderPrompt(formatPromptRef(ref), version, variables);
        if (o.json)
          return json({
            prompt: version.prompt,
            version: version.version,
            digest: version.digest,
            model: version.model,
            text: rendered,
          });
        print(rendered);
      });
    });

  prompts
    .command('alias')
    .description('point an alias (production, staging, ...) of a prompt at a version (role release:<prompt>)')
    .argument('<name>', 'prompt name')
    .argument('<alias>', 'alias name')
    .argument('<version>', 'version number')
    .action(async (name: string, alias: string, version: string) => {
      if (!/^\d+$/.test(version)) throw new UsageError(`version ${JSON.stringify(version)}: expected a number`);
      if (!PROMPT_NAME.test(alias)) throw new UsageError(`alias ${JSON.stringify(alias)}: expected ${PROMPT_NAME}`);
      await withDb(async (db) => {
        const { principal } = await requireRole(`release:${name}`, db);
        const { previous } = await setPromptAlias(db, name, alias, Number(version), principal);
        print(`${name}@${alias} -> ${version}${previous === null ? '' : ` (was ${previous})`}, by ${principal}`);
      });
    });
}
