// Pure code: the workflow bundle imports it to resolve a plan's references deterministically.

/** Where a wired value comes from: a path into an earlier node's output, or into the current `foreach` item. */
export type RefTarget = { node: string; path: string[] } | { item: true; path: string[] };

const isRef = (v: object): v is { $ref: RefTarget } => '$ref' in v;

/** Every `$ref` in a template. */
export function refsIn(template: unknown, out: RefTarget[] = []): RefTarget[] {
  if (Array.isArray(template)) for (const v of template) refsIn(v, out);
  else if (typeof template === 'object' && template !== null) {
    if (isRef(template)) out.push(template.$ref);
    else for (const v of Object.values(template)) refsIn(v, out);
  }
  return out;
}

function at(value: unknown, path: string[], where: string): unknown {
  let v = value;
  for (const key of path) {
    if (typeof v !== 'object' || v === null || !Object.hasOwn(v, key))
      throw new TypeError(`${where} has no field ${path.join('.')}`);
    v = (v as Record<string, unknown>)[key];
  }
  return v;
}

/** The template with every reference replaced by the value it names. */
export function resolveTemplate(
  template: unknown,
  outputs: Readonly<Record<string, unknown>>,
  item?: { value: unknown }
): unknown {
  if (Array.isArray(template)) return template.map((v) => resolveTemplate(v, outputs, item));
  if (typeof template !== 'object' || template === null) return template;
  if (isRef(template)) {
    const target = template.$ref;
    if ('node' in target) {
      if (!Object.hasOwn(outputs, target.node)) throw new TypeError(`the output of ${target.node} is not there yet`);
      return at(outputs[target.node], target.path, `the output of ${target.node}`);
    }
    if (!item) throw new TypeError('a foreach item is referenced outside its foreach');
    return at(item.value, target.path, 'the foreach item');
  }
  return Object.fromEntries(Object.entries(template).map(([k, v]) => [k, resolveTemplate(v, outputs, item)]));
}
