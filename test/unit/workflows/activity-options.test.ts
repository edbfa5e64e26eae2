import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const WORKFLOWS = fileURLToPath(new URL('../../../workflows', import.meta.url));

/** The options object of every proxyActivities / proxyLocalActivities call in a source file. */
function proxyOptions(source: string): string[] {
  const found: string[] = [];
  const call = /proxy(?:Local)?Activities(?:<[^>]*>)?\(\s*\{/g;
  for (let m = call.exec(source); m; m = call.exec(source)) {
    let depth = 1;
    let i = m.index + m[0].length;
    for (; i < source.length && depth; i++) depth += source[i] === '{' ? 1 : source[i] === '}' ? -1 : 0;
    found.push(source.slice(m.index + m[0].length - 1, i));
  }
  return found;
}

/** Names bound to `boundedRetry(...)` in a file: `const retry = boundedRetry({...})`. */
const boundedNames = (source: string) =>
  new Set([...source.matchAll(/const (\w+) = boundedRetry\(/g)].map((m) => m[1]!));

// The bundle's source, every file: the interceptor in test/helpers/bounded-retries.ts checks the activities the tests
// schedule at run time; this checks the ones no test happens to reach.
describe('activity options in the workflow bundle', () => {
  const files = readdirSync(WORKFLOWS).filter((f) => f.endsWith('.ts'));
  const calls = files.flatMap((file) => {
    const source = readFileSync(join(WORKFLOWS, file), 'utf8');
    const named = boundedNames(source);
    return proxyOptions(source).map((options) => ({ file, options, named }));
  });

  it('finds the proxies (the walk itself works)', () => {
    expect(calls.length).toBeGreaterThanOrEqual(10);
  });

  it('gives every activity proxy a bounded retry policy made by boundedRetry', () => {
    const unbounded = calls.filter(({ options, named }) => {
      const retry = /\bretry(?:\s*:\s*([^,\n}]+))?/.exec(options);
      if (!retry) return true;
      const value = (retry[1] ?? 'retry').trim();
      return !(value.startsWith('boundedRetry(') || named.has(value));
    });
    expect(unbounded.map(({ file, options }) => `${file}: ${options.replace(/\s+/g, ' ')}`)).toEqual([]);
  });
});
