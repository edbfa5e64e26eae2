// Prompts as versioned artifacts: a template, the JSON Schema of its variables and the model parameters, stored in a
// canonical form whose sha256 is the prompt version's identity. Defined in code (`definePrompt`, zod) or pushed from
// a JSON file; rendered only with variables the schema accepts.
import { createTwoFilesPatch } from 'diff';
import { z } from 'zod';
import { sha256 } from '../artifacts/digest.js';
import { CairnError } from '../errors.js';
import { canonicalJson } from '../ml/canonical-json.js';

/** The model call a prompt is written for (an OpenAI-compatible chat endpoint's parameters). */
export interface PromptModel {
  name: string;
  temperature?: number;
  maxTokens?: number;
}

/** What a prompt version is: the part that is hashed. */
export interface PromptContent {
  /** Text with `{{ variable }}` placeholders. */
  template: string;
  /** JSON Schema (draft 2020-12) of the variables: an object schema naming each placeholder. */
  variables: Record<string, unknown>;
  model: PromptModel;
}

/** A prompt defined in a project's code: `definePrompt({ name, template, variables: z.object(...), model })`. */
export interface PromptDefinition extends PromptContent {
  name: string;
  /** sha256 of the canonical content: the same prompt anywhere has the same digest. */
  digest: string;
}

export const PROMPT_NAME = /^[a-z][a-z0-9-]*$/;
/** `{{ name }}`: a placeholder; anything else between double braces is refused when the prompt is defined. */
const PLACEHOLDER = /\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g;
const BRACES = /\{\{([^{}]*)\}\}/g;

/** A prompt that cannot be defined or stored as given: names the field at fault. */
export class PromptDefinitionError extends CairnError {
  override readonly name = 'PromptDefinitionError';
  readonly type = 'PromptDefinitionError';
  constructor(
    message: string,
    readonly field: string
  ) {
    super(message);
  }
  override failureDetails() {
    return { field: this.field };
  }
}

/** Variables a prompt version refuses: each problem names the variable (`field`) and what is wrong. */
export class PromptVariablesError extends CairnError {
  override readonly name = 'PromptVariablesError';
  readonly type = 'PromptVariablesError';
  constructor(
    readonly prompt: string,
    readonly problems: { field: string; message: string }[]
  ) {
    super(`${prompt}: ${problems.map((p) => `${p.field}: ${p.message}`).join('; ')}`);
  }
  override failureDetails() {
    return { prompt: this.prompt, problems: this.problems };
  }
}

const modelSchema = z.strictObject({
  name: z.string().min(1),
  temperature: z.number().min(0).max(2).optional(),
  maxTokens: z.number().int().positive().optional(),
});

const contentSchema = z.strictObject({
  template: z.string().min(1, 'expected a non-empty template'),
  variables: z.record(z.string(), z.unknown()),
  model: modelSchema,
});

/** The placeholders of a template, each once, in order of first use. */
export function placeholders(template: string): string[] {
  return [...new Set([...template.matchAll(PLACEHOLDER)].map((m) => m[1]!))];
}

/**
 * Checks prompt content (from code or a file: `where` names it in errors): its shape, a variables schema that is an
 * object schema zod can read, every placeholder declared in it, nothing between double braces that is not a
 * placeholder. Returns the content with only its own fields.
 */
export function checkPromptContent(raw: unknown, where: string): PromptContent {
  const parsed = contentSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const field = issue.path.join('.') || (issue.code === 'unrecognized_keys' ? issue.keys.join(', ') : '(prompt)');
    throw new PromptDefinitionError(`${where}: ${field}: ${issue.message}`, field);
  }
  const content = parsed.data as PromptContent;
  const properties = content.variables.properties;
  if (content.variables.type !== 'object' || typeof properties !== 'object' || properties === null)
    throw new PromptDefinitionError(
      `${where}: variables: expected a JSON Schema of type "object" with properties`,
      'variables'
    );
  try {
    z.fromJSONSchema(content.variables as Parameters<typeof z.fromJSONSchema>[0]);
  } catch (err) {
    throw new PromptDefinitionError(
      `${where}: variables: not a usable JSON Schema: ${(err as Error).message}`,
      'variables'
    );
  }
  for (const m of content.template.matchAll(BRACES)) {
    if (!/^\s*[A-Za-z_][A-Za-z0-9_]*\s*$/.test(m[1]!))
      throw new PromptDefinitionError(
        `${where}: template: {{${m[1]}}} is not a placeholder (write {{ name }} with a variable's name)`,
        'template'
      );
  }
  const undeclared = placeholders(content.template).filter((p) => !Object.hasOwn(properties, p));
  if (undeclared.length)
    throw new PromptDefinitionError(
      `${where}: template: ${undeclared.map((p) => `{{ ${p} }}`).join(', ')} not declared in variables`,
      'template'
    );
  return content;
}

/** The digest of prompt content: sha256 of its canonical JSON (sorted keys, no spaces). */
export function promptDigest(content: PromptContent): string {
  return sha256(canonicalJson(content));
}

/** Declares a prompt in code; the schema is stored as JSON Schema, so any version renders without this code. */
export function definePrompt(spec: {
  name: string;
  template: string;
  variables: z.ZodObject;
  model: PromptModel;
}): PromptDefinition {
  if (!PROMPT_NAME.test(spec.name))
    throw new PromptDefinitionError(`prompt name ${JSON.stringify(spec.name)}: expected ${PROMPT_NAME}`, 'name');
  const { $schema: _schema, ...variables } = z.toJSONSchema(spec.variables) as Record<string, unknown>;
  const content = checkPromptContent({ template: spec.template, variables, model: spec.model }, `prompt ${spec.name}`);
  return { name: spec.name, ...content, digest: promptDigest(content) };
}

const readers = new Map<string, z.ZodType>();

/** zod's reading of a variables schema, kept per digest (a version's schema never changes). */
function variablesSchema(digest: string, variables: Record<string, unknown>): z.ZodType {
  let schema = readers.get(digest);
  if (!schema) {
    schema = z.fromJSONSchema(variables as Parameters<typeof z.fromJSONSchema>[0]);
    if (readers.size > 1000) readers.clear();
    readers.set(digest, schema);
  }
  return schema;
}

const text = (v: unknown) => (typeof v === 'string' ? v : JSON.stringify(v));

/**
 * The template with each placeholder replaced by its variable (strings as they are, anything else as JSON), after
 * the variables pass the version's schema: a missing, mistyped or unknown variable throws PromptVariablesError
 * naming it.
 */
export function renderPrompt(prompt: string, content: PromptContent & { digest: string }, variables: unknown): string {
  const parsed = variablesSchema(content.digest, content.variables).safeParse(variables);
  if (!parsed.success) {
    throw new PromptVariablesError(
      prompt,
      parsed.error.issues.flatMap((issue) => {
        if (issue.code === 'unrecognized_keys')
          return issue.keys.map((k) => ({ field: k, message: 'not a variable of this prompt' }));
        const field = issue.path.join('.') || '(variables)';
        const missing = issue.code === 'invalid_type' && issue.message.endsWith('received undefined');
        return [{ field, message: missing ? 'missing' : issue.message }];
      })
    );
  }
  const values = parsed.data as Record<string, unknown>;
  return content.template.replace(PLACEHOLDER, (_m, name: string) => text(values[name]));
}

/** Indented JSON with keys in canonical order, whatever order they were stored in (jsonb keeps its own). */
const indented = (value: unknown) => JSON.stringify(JSON.parse(canonicalJson(value)), null, 2);

/** A version as one text: the template, then its model parameters and variables schema as indented JSON. */
function promptText(content: PromptContent): string {
  return `${content.template}\n\n# model\n${indented(content.model)}\n\n# variables\n${indented(content.variables)}\n`;
}

/** A unified diff (3 lines of context) from one version's text to another's; empty when they are the same. */
export function diffPromptVersions(
  from: PromptContent & { label: string },
  to: PromptContent & { label: string }
): string {
  const a = promptText(from);
  const b = promptText(to);
  return a === b ? '' : createTwoFilesPatch(from.label, to.label, a, b, undefined, undefined, { context: 3 });
}
