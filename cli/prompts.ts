// `cairn prompts …`: the prompt registry (versions, aliases, diffs) and rendering.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { loadConfig } from '../lib/config/index.js';
import { parseEvaluationRows } from '../lib/prompts/evaluation.js';
import type { ScorerSpec } from '../lib/prompts/gate.js';
import { checkPromptContent, diffPromptVersions, PROMPT_NAME, renderPrompt } from '../lib/prompts/prompt.js';
import type { PromptContent } from '../lib/prompts/prompt.js';
import {
  createPromptVersion,
  formatPromptRef,
  listEvaluations,
  listPrompts,
  listPromptVersions,
  parsePromptRef,
  resolvePrompt,
  setPromptAlias,
} from '../lib/prompts/registry.js';
import { requirePrincipal, requireRole } from './auth.js';
import { json, print, UsageError, when, withClient, withDb } from './io.js';
import { cliProject } from './pipelines.js';
import { formatTable, short } from './table.js';
import { addAliasMonitorCommands, addAliasReleaseCommands } from './alias-release.js';
import { EXIT } from './training.js';
import type { evaluatePrompt, EvaluatePromptResult } from '../workflows/evaluate-prompt.js';

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

/**
 * A scorer from the command line: `exact`, `regex:<pattern>`, `json-schema:<file>`,
 * `embedding-similarity:<model>` or `project:<name>` (a `defineScorer` of the project the worker loads).
 */
function scorerOf(text: string): ScorerSpec {
  const at = text.indexOf(':');
  const kind = at < 0 ? text : text.slice(0, at);
  const arg = at < 0 ? '' : text.slice(at + 1);
  const needs = (what: string) => {
    if (!arg) throw new UsageError(`--scorer ${text}: write ${kind}:<${what}>`);
    return arg;
  };
  switch (kind) {
    case 'exact':
      return { kind };
    case 'regex':
      return { kind, pattern: needs('pattern') };
    case 'json-schema': {
      const file = needs('schema file');
      try {
        return { kind, schema: JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown> };
      } catch (err) {
        throw new UsageError(`--scorer ${text}: ${(err as Error).message}`);
      }
    }
    case 'embedding-similarity':
      return { kind, model: needs('embedding model') };
    case 'project':
      return { kind, scorer: needs('scorer name') };
    default:
      throw new UsageError(
        `--scorer ${text}: unknown scorer (exact, regex:<pattern>, json-schema:<file>, embedding-similarity:<model>, project:<name>)`
      );
  }
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

export function addPromptCommands(program: Command): void {
  const prompts = program
    .command('prompts')
    .description(
      'versioned prompts: create, list, show, diff, render, evaluate, release, rollback, alias, monitor, reports'
    );

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
        const evaluations = await listEvaluations(db, ref.prompt);
        if (o.json) return json({ version, versions, evaluations });
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
        if (!evaluations.length) return;
        print('');
        print(
          formatTable([
            ['EVALUATION', 'VERSION', 'METRICS', 'GATE', 'ROWS', 'ASKED', 'CACHED', 'BY', 'AT'],
            ...evaluations.map((e) => [
              String(e.id),
              String(e.version),
              Object.entries(e.metrics)
                .map(([m, v]) => `${m}=${v.toFixed(3)}`)
                .join(' '),
              e.gate ? (e.gate.passed ? 'passed' : 'failed') : 'baseline',
              String(e.rows),
              String(e.calls),
              String(e.cached),
              e.requestedBy,
              when(e.createdAt),
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
    .command('evaluate')
    .description(
      'evaluate a version over a dataset with an OpenAI-compatible endpoint (llm.baseUrl), gated against an alias'
    )
    .argument('<ref>', 'the candidate: name@version')
    .requiredOption('--data <file>', 'JSON array or JSON lines of {"variables": {...}, "reference": "..."}')
    .option(
      '--scorer <spec>',
      'exact, regex:<pattern>, json-schema:<file>, embedding-similarity:<model>, project:<name> (repeat; the first is gated)',
      collect
    )
    .option('--against <alias>', 'the baseline: the version this alias points at', 'production')
    .option('--tolerance <x>', 'how far below the baseline the candidate may score', '0')
    .option('--min-score <x>', 'the least the candidate must score')
    .option('--json', 'print JSON')
    .action(
      async (
        text: string,
        o: { data: string; scorer?: string[]; against: string; tolerance: string; minScore?: string; json?: boolean }
      ) => {
        const ref = parsePromptRef(text);
        if (ref.version === undefined)
          throw new UsageError(`${text}: name the candidate version, e.g. ${ref.prompt}@2`);
        const scorers = (o.scorer?.length ? o.scorer : ['exact']).map(scorerOf);
        const tolerance = Number(o.tolerance);
        const minScore = o.minScore === undefined ? undefined : Number(o.minScore);
        if (!(tolerance >= 0) || (minScore !== undefined && !(minScore >= 0 && minScore <= 1)))
          throw new UsageError('--tolerance: a number >= 0; --min-score: a number from 0 to 1');
        const data = readFileSync(o.data, 'utf8');
        const rows = parseEvaluationRows(data, o.data);
        const { dataset, requestedBy } = await withDb(async (db, store) => {
          const { principal } = await requirePrincipal(db);
          // Every row must render: a row the version refuses is named now, not after the workflow has started.
          const version = await resolvePrompt(db, ref);
          rows.forEach((row, i) => renderPrompt(`${o.data}: row ${i}`, version, row.variables));
          return { dataset: (await store.putBytes(data)).digest, requestedBy: principal };
        });
        const result = await withClient(async (client, config) => {
          const handle = await client.workflow.start<typeof evaluatePrompt>('evaluatePrompt', {
            taskQueue: config.temporal.taskQueue,
            workflowId: `evaluate-prompt-${ref.prompt}-${ref.version}-${randomUUID().slice(0, 8)}`,
            args: [
              {
                prompt: ref.prompt,
                version: ref.version!,
                dataset,
                scorers,
                against: o.against,
                tolerance,
                ...(minScore === undefined ? {} : { minScore }),
                requestedBy,
              },
            ],
          });
          if (!o.json) print(`started ${handle.workflowId} (${rows.length} rows, dataset ${dataset})`);
          return handle.result();
        });
        process.exitCode = result.gate.passed ? EXIT.ok : EXIT.gateFailed;
        if (o.json) {
          json(result);
          return;
        }
        const line = (e: EvaluatePromptResult['candidate']) =>
          `${e.prompt}@${e.version}: ${Object.entries(e.metrics)
            .map(([m, v]) => `${m} ${v.toFixed(4)}`)
            .join(', ')} (${e.rows} rows; ${e.calls} answers asked, ${e.cached} from the cache)`;
        print(`candidate ${line(result.candidate)}`);
        print(
          result.baseline
            ? `baseline  ${line(result.baseline)} (${o.against})`
            : `baseline  none: no version is ${o.against} yet`
        );
        const { gate } = result;
        print(
          gate.passed
            ? `gate: passed (${gate.metric} ${gate.candidate.toFixed(4)}${gate.baseline === undefined ? '' : ` vs ${gate.baseline.toFixed(4)} for v${gate.baselineVersion}`})`
            : `gate: FAILED: ${gate.reasons.join('; ')}`
        );
      }
    );

  addAliasReleaseCommands(prompts, 'prompt');
  addAliasMonitorCommands(prompts, 'prompt');

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
