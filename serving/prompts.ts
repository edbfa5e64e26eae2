// `POST /v1/prompts/:name/render`: a prompt version rendered with the caller's variables, and the version that did it.
import { z } from 'zod';
import type { Queryable } from '../lib/db/pool.js';
import { PromptVariablesError, renderPrompt } from '../lib/prompts/prompt.js';
import { resolvePrompt, resolvePromptRoute, UnknownPromptError } from '../lib/prompts/registry.js';
import type { PromptRoute, PromptVersion } from '../lib/prompts/registry.js';
import { stickyPoint } from './model-set.js';
import { Lookups } from './lookups.js';
import { HttpError, problemsOf } from './requests.js';

const renderBodySchema = z.strictObject({
  variables: z.record(z.string(), z.unknown()),
  /** Which version: an alias (default `production`) or a version number. */
  alias: z
    .string()
    .regex(/^[a-z][a-z0-9-]*$/)
    .optional(),
  version: z.number().int().positive().optional(),
  /** Routes every request with the same key to the same version while the alias has a canary. */
  key: z.string().min(1).max(256).optional(),
});

export interface RenderAnswer {
  prompt: string;
  version: number;
  digest: string;
  /** The alias that chose the version, when one did. */
  alias?: string;
  /** With an alias in a canary release: whether this request got the canary or the stable version. */
  served?: 'stable' | 'canary';
  model: PromptVersion['model'];
  text: string;
}

/**
 * Renders prompts for the online server. Versions never change, so an alias's resolution is the only thing to
 * refresh: it is kept for `aliasTtlMs` (the server's reload interval), after which a moved alias serves its new
 * version.
 */
export class PromptRenderer {
  private readonly aliases: Lookups<PromptRoute>;
  /** Versions asked for by number, kept: a version never changes. */
  private readonly versions = new Lookups<PromptVersion>(Infinity);

  constructor(
    private readonly db: Queryable,
    aliasTtlMs: number,
    /** Told of every render: the version (none for an unknown prompt) and whether it rendered. */
    private readonly counted: (
      prompt: string,
      version: number | undefined,
      outcome: 'rendered' | 'refused' | 'unknown'
    ) => void = () => undefined
  ) {
    this.aliases = new Lookups<PromptRoute>(aliasTtlMs);
  }

  async render(name: string, body: unknown, headerKey?: string | string[]): Promise<RenderAnswer> {
    const parsed = renderBodySchema.safeParse(body);
    if (!parsed.success)
      throw new HttpError(400, 'the request body is not a render request: expected {"variables": {...}}', {
        problems: problemsOf(parsed.error),
      });
    const { variables, alias: asked, version: number } = parsed.data;
    const key = parsed.data.key ?? (typeof headerKey === 'string' ? headerKey : undefined);
    if (asked !== undefined && number !== undefined)
      throw new HttpError(400, 'send either "alias" or "version", not both', {
        problems: [{ field: 'version', message: 'not allowed beside alias' }],
      });
    const alias = number === undefined ? (asked ?? 'production') : undefined;
    let version: PromptVersion;
    let served: RenderAnswer['served'];
    try {
      if (alias === undefined) version = await this.byVersion(name, number!);
      else {
        const route = await this.byAlias(name, alias);
        const canary = route.canary && (key === undefined ? Math.random() : stickyPoint(key)) < route.weight;
        version = canary ? route.canary! : route.stable;
        if (route.canary) served = canary ? 'canary' : 'stable';
      }
    } catch (err) {
      if (err instanceof UnknownPromptError) {
        // A name nobody registered is not a label of its own (anyone may send any name).
        this.counted(err.promptExists ? name : '(unknown)', undefined, 'unknown');
        throw new HttpError(404, err.message);
      }
      throw err;
    }
    let text: string;
    try {
      text = renderPrompt(`${name}@${version.version}`, version, variables);
    } catch (err) {
      if (err instanceof PromptVariablesError) {
        this.counted(name, version.version, 'refused');
        throw new HttpError(
          400,
          `the variables do not fit ${name}@${version.version}: ${err.problems.map((p) => `${p.field}: ${p.message}`).join('; ')}`,
          {
            problems: err.problems,
            version: version.version,
          }
        );
      }
      throw err;
    }
    this.counted(name, version.version, 'rendered');
    return {
      prompt: name,
      version: version.version,
      digest: version.digest,
      ...(alias === undefined ? {} : { alias }),
      ...(served ? { served } : {}),
      model: version.model,
      text,
    };
  }

  private byVersion(prompt: string, number: number): Promise<PromptVersion> {
    return this.versions.get(`${prompt}@${number}`, () => resolvePrompt(this.db, { prompt, version: number }));
  }

  private byAlias(prompt: string, alias: string): Promise<PromptRoute> {
    return this.aliases.get(`${prompt}@${alias}`, () => resolvePromptRoute(this.db, prompt, alias));
  }
}
