// `POST /v1/prompts/:name/render`: a prompt version rendered with the caller's variables, and the version that did it.
import { z } from 'zod';
import type { Queryable } from '../lib/db/pool.js';
import { PromptVariablesError, renderPrompt } from '../lib/prompts/prompt.js';
import { resolvePrompt, resolvePromptRoute, UnknownPromptError } from '../lib/prompts/registry.js';
import type { PromptRoute, PromptVersion } from '../lib/prompts/registry.js';
import { chooseVersion, Lookups, versionChoice } from './versions.js';
import { HttpError, problemsOf } from './requests.js';

const renderBodySchema = z.strictObject({
  variables: z.record(z.string(), z.unknown()),
  ...versionChoice,
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
    let version: PromptVersion;
    let alias: string | undefined;
    let served: RenderAnswer['served'];
    try {
      ({ version, alias, served } = await chooseVersion(
        parsed.data,
        headerKey,
        (number) => this.byVersion(name, number),
        (asked) => this.byAlias(name, asked)
      ));
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
      text = renderPrompt(`${name}@${version.version}`, version, parsed.data.variables);
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
