import { CairnError } from '../errors.js';
export const ALIASES = ['staging', 'production', 'champion'] as const;
export type Alias = (typeof ALIASES)[number];

/** `<model>@<version>` or `<model>@<alias>`. */
export interface ModelRef {
  model: string;
  version?: number;
  alias?: Alias;
}

/** A reference or lookup a user got wrong: printed as one line. */
export class ModelRefError extends CairnError {
  override readonly name = 'ModelRefError';
  readonly type = 'InvalidModelRef';
}

export function parseModelRef(text: string): ModelRef {
  const match = /^([a-z][a-z0-9-]*)@([A-Za-z0-9]+)$/.exec(text);
  if (!match)
    throw new ModelRefError(
      `malformed model reference ${JSON.stringify(text)}: expected <model>@<version> or <model>@<${ALIASES.join('|')}>`
    );
  const [, model, at] = match as unknown as [string, string, string];
  if (/^\d+$/.test(at)) {
    const version = Number(at);
    if (version < 1) throw new ModelRefError(`model versions start at 1, got ${text}`);
    return { model, version };
  }
  if ((ALIASES as readonly string[]).includes(at)) return { model, alias: at as Alias };
  throw new ModelRefError(
    `unknown alias ${JSON.stringify(at)} in ${text} (aliases: ${ALIASES.join(', ')}; or a version number)`
  );
}

export function formatModelRef(ref: ModelRef): string {
  return `${ref.model}@${ref.version ?? ref.alias}`;
}
