// `POST /v1/prompts/:name/render`: a prompt version rendered with the caller's variables, and the version that did it.
import { z } from 'zod';
import type { Queryable } from '../lib/db/pool.js';
import { PromptVariablesError, renderPrompt } from '../lib/prompts/prompt.js';
import { resolvePrompt, UnknownPromptError } from '../lib/prompts/registry.js';
import type { PromptVersion } from '../lib/prompts/registry.js';
import { HttpError, problemsOf } from './requests.js';

const renderBodySchema = z.strictObject({
  variables: z.record(z.string(), z.unknown()),
  /** Which version: an alias (default `production`) or a version number. */
  alias: z
    .string()
    .regex(/^[a-z][a-z0-9-]*$/)
    .optional(),
  version: z.number().int().positive().optional(),
});

export interface RenderAnswer {
  prompt: string;
  version: number;
  digest: string;
  /** The alias that chose the version, when one did. */
  alias?: string;
  model: PromptVersion['model'];
  text: string;
}

/**
 * Renders prompts for the online server. Versions never change, so an alias's resolution is the only thing to
 * refresh: it is kept for `aliasTtlMs` (the server's reload interval), after which a moved alias serves its new
 * version.
 */
export class PromptRenderer {
  private readonly aliases = new Map<string, { at: number; version: Promise<PromptVersion> }>();

  constructor(
    private readonly db: Queryable,
    private readonly aliasTtlMs: number
  ) {}

  async render(name: string, body: unknown): Promise<RenderAnswer> {
    const parsed = renderBodySchema.safeParse(body);
    if (!parsed.success)
      throw new HttpError(400, 'the request body is not a render request: expected {"variables": {...}}', {
        problems: problemsOf(parsed.error),
      });
    const { variables, alias: asked, version: number } = parsed.data;
    if (asked !== undefined && number !== undefined)
      throw new HttpError(400, 'send either "alias" or "version", not both', {
        problems: [{ field: 'version', message: 'not allowed beside alias' }],
      });
    const alias = number === undefined ? (asked ?? 'production') : undefined;
    let version: PromptVersion;
    try {
      version = await (alias === undefined
        ? resolvePrompt(this.db, { prompt: name, version: number! })
        : this.byAlias(name, alias));
    } catch (err) {
      if (err instanceof UnknownPromptError) throw new HttpError(404, err.message);
      throw err;
    }
    let text: string;
    try {
      text = renderPrompt(`${name}@${version.version}`, version, variables);
    } catch (err) {
      if (err instanceof PromptVariablesError)
        throw new HttpError(400, `the variables do not fit ${name}@${version.version}: ${err.message}`, {
          problems: err.problems,
          version: version.version,
        });
      throw err;
    }
    return {
      prompt: name,
      version: version.version,
      digest: version.digest,
      ...(alias === undefined ? {} : { alias }),
      model: version.model,
      text,
    };
  }

  private byAlias(prompt: string, alias: string): Promise<PromptVersion> {
    const key = `${prompt}@${alias}`;
    const now = Date.now();
    const cached = this.aliases.get(key);
    if (cached && now - cached.at < this.aliasTtlMs) return cached.version;
    const version = resolvePrompt(this.db, { prompt, alias });
    // A failed lookup is not kept: the next request asks again.
    version.catch(() => this.aliases.delete(key));
    if (this.aliases.size > 10_000) this.aliases.clear();
    this.aliases.set(key, { at: now, version });
    return version;
  }
}
