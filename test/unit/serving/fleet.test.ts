import { describe, expect, it } from 'vitest';
import { checkFleet } from '../../../lib/release/fleet.js';
import type { Replica } from '../../../lib/release/fleet.js';

const replica = (id: string, over: Partial<Replica> = {}): Replica => ({
  id,
  kind: 'online',
  environment: 'production',
  host: 'h',
  pid: 1,
  startedAt: new Date(0),
  heartbeatAt: new Date(0),
  age: 1,
  routes: [{ model: 'm', revision: 3, stable: 1, canary: null, weight: 0 }],
  loaded: ['m@1'],
  errors: [],
  ...over,
});

describe('checkFleet', () => {
  const fleet = [
    replica('holds', { loaded: ['m@1', 'm@2'] }),
    replica('loading'),
    replica('broken', { errors: [{ model: 'm', version: 2, error: 'out of memory' }] }),
    replica('other-model-error', { loaded: ['m@1', 'm@2'], errors: [{ model: 'n', version: 2, error: 'x' }] }),
    replica('silent', { age: 60 }),
  ];

  it('sorts live replicas into done, pending and failed; a silent one is not waited for', () => {
    expect(checkFleet(fleet, { model: 'm', version: 2 }, 15)).toEqual({
      live: ['holds', 'loading', 'broken', 'other-model-error'],
      done: ['holds', 'other-model-error'],
      pending: ['loading'],
      failed: [{ replica: 'broken', error: 'out of memory' }],
    });
  });

  it('with a revision, counts only replicas that serve that deployment revision or a later one', () => {
    const moved = [
      replica('switched', {
        loaded: ['m@2'],
        routes: [{ model: 'm', revision: 4, stable: 2, canary: null, weight: 0 }],
      }),
      replica('not-yet', { loaded: ['m@1', 'm@2'] }),
      replica('no-route', { loaded: ['m@2'], routes: [] }),
    ];
    const check = checkFleet(moved, { model: 'm', version: 2, revision: 4 }, 15);
    expect(check.done).toEqual(['switched']);
    expect(check.pending).toEqual(['not-yet', 'no-route']);
  });

  it('an empty fleet has nothing pending', () => {
    expect(checkFleet([], { model: 'm', version: 2 }, 15)).toEqual({ live: [], done: [], pending: [], failed: [] });
  });
});
