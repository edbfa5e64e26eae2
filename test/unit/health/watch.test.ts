import { describe, expect, it } from 'vitest';
import { DependencyWatch } from '../../../lib/health/watch.js';

describe('DependencyWatch', () => {
  it('logs one line when a dependency goes away and one when it is back, and reports it meanwhile', async () => {
    const lines: [string, string][] = [];
    const logger = {
      error: (_: object, msg: string) => void lines.push(['error', msg]),
      info: (_: object, msg: string) => void lines.push(['info', msg]),
    };
    let storeProblem: string | undefined;
    const watch = new DependencyWatch(
      { postgres: async () => undefined, 'object-store': async () => storeProblem },
      logger as never
    );
    await watch.checkNow();
    expect(watch.problems()).toEqual([]);
    storeProblem = 'connect ECONNREFUSED 127.0.0.1:8333';
    for (let i = 0; i < 3; i++) await watch.checkNow();
    expect(watch.problems()).toEqual(['object-store unreachable: connect ECONNREFUSED 127.0.0.1:8333']);
    storeProblem = undefined;
    await watch.checkNow();
    await watch.checkNow();
    expect(watch.problems()).toEqual([]);
    expect(lines.map(([level]) => level)).toEqual(['error', 'info']);
    expect(lines[0]![1]).toBe(
      'object-store unreachable: connect ECONNREFUSED 127.0.0.1:8333; not ready until it is back'
    );
    expect(lines[1]![1]).toMatch(/^object-store reachable again after \d+\.\d s$/);
  });
});
