import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { Queryable } from '../../../lib/db/pool.js';
import { TokenCache } from '../../../serving/auth.js';
import { durationMs } from '../../../lib/config/duration.js';
import {
  boundedError,
  HttpError,
  parseClientJson,
  parseFeedbackBody,
  parsePredictBody,
  predictBodySchema,
  RefusedJsonError,
} from '../../../serving/requests.js';

function thrown(fn: () => unknown): HttpError {
  try {
    fn();
  } catch (err) {
    if (err instanceof HttpError) return err;
    throw err;
  }
  throw new Error('expected an HttpError');
}

describe('predict bodies', () => {
  it('accepts rows, one row, and a routing key', () => {
    expect(parsePredictBody({ rows: [{ a: 1 }, { a: 2 }] })).toEqual({ rows: [{ a: 1 }, { a: 2 }] });
    expect(parsePredictBody({ row: { a: 1 }, key: 'user-7' })).toEqual({ rows: [{ a: 1 }], key: 'user-7' });
  });

  it('names what is wrong with the envelope', () => {
    expect(thrown(() => parsePredictBody({ rows: 'x' })).details.problems).toEqual([
      { field: 'rows', message: expect.stringContaining('expected array') },
    ]);
    expect(thrown(() => parsePredictBody({ rows: [] })).details.problems).toEqual([
      { field: 'rows', message: 'expected at least one row' },
    ]);
    expect(thrown(() => parsePredictBody({ rows: [{}], extra: 1 })).details.problems).toEqual([
      { field: 'extra', message: 'unknown field' },
    ]);
    expect(thrown(() => parsePredictBody({})).message).toMatch(/no rows/);
    expect(thrown(() => parsePredictBody({ rows: [{}], row: {} })).message).toMatch(/not both/);
    expect(thrown(() => parsePredictBody([{ a: 1 }])).statusCode).toBe(400);
  });

  it('takes without zod exactly the bodies the schema accepts, as the schema reads them', () => {
    const long = 'k'.repeat(257);
    const bodies: unknown[] = [
      { row: { a: 1 } },
      { row: null },
      { row: 7 },
      { rows: [{ a: 1 }, 2, null] },
      { rows: [] },
      { rows: {} },
      { rows: 'x' },
      { rows: [1], key: 'user' },
      { row: 1, key: '' },
      { row: 1, key: long },
      { row: 1, key: long.slice(1) },
      { row: 1, key: 3 },
      { rows: [1], row: 1 },
      { rows: [1], extra: 1 },
      { key: 'k' },
      {},
      [],
      null,
      'rows',
      Object.create({ row: { inherited: true } }),
      JSON.parse('{"row": 1, "key": "k"}'),
    ];
    for (const body of bodies) {
      const parsed = predictBodySchema.safeParse(body);
      const { rows, row, key } = parsed.success ? parsed.data : {};
      const expected =
        parsed.success && (rows === undefined) !== (row === undefined)
          ? { rows: rows ?? [row], ...(key === undefined ? {} : { key }) }
          : 'refused';
      let got: unknown;
      try {
        got = parsePredictBody(body);
      } catch (err) {
        if (!(err instanceof HttpError) || err.statusCode !== 400) throw err;
        got = 'refused';
      }
      expect(got, JSON.stringify(body)).toEqual(expected);
    }
  });

  it('reads entity keys, one object per row, and refuses what does not pair up', () => {
    expect(parsePredictBody({ entities: { origin: 'SFO' } })).toEqual({ rows: [{}], entities: [{ origin: 'SFO' }] });
    expect(parsePredictBody({ entities: { origin: 'SFO' }, row: { distance: 300 }, key: 'k' })).toEqual({
      rows: [{ distance: 300 }],
      entities: [{ origin: 'SFO' }],
      key: 'k',
    });
    expect(parsePredictBody({ entities: [{ origin: 'SFO' }, { origin: 'LAX' }], rows: [{ d: 1 }, { d: 2 }] })).toEqual({
      rows: [{ d: 1 }, { d: 2 }],
      entities: [{ origin: 'SFO' }, { origin: 'LAX' }],
    });
    const problems = (body: unknown) => thrown(() => parsePredictBody(body)).details.problems;
    expect(problems({ entities: [{ origin: 'SFO' }], rows: [{ d: 1 }, { d: 2 }] })).toEqual([
      { field: 'entities', message: 'expected 2 objects' },
    ]);
    expect(problems({ entities: [{ origin: 'SFO' }, { origin: 'LAX' }], rows: [{ d: 1 }, 2] })).toEqual([
      { field: 'rows', row: 1, message: 'expected an object' },
    ]);
    expect(problems({ entities: { origin: 'SFO' }, extra: 1 })).toEqual([{ field: 'extra', message: 'unknown field' }]);
    for (const entities of [[], 'SFO', [['SFO']], [{ origin: 'SFO' }, null]])
      expect(thrown(() => parsePredictBody({ entities })).statusCode, JSON.stringify(entities)).toBe(400);
  });
});

describe('feedback bodies', () => {
  it('names the row and field of a bad label', () => {
    const err = thrown(() =>
      parseFeedbackBody({
        feedback: [
          { predictionId: 'a', label: 'x' },
          { predictionId: 'b', label: true },
        ],
      })
    );
    expect(err.details.problems).toEqual([{ field: 'label', row: 1, message: 'expected a class name or a number' }]);
    expect(thrown(() => parseFeedbackBody({ feedback: [{ label: 1 }] })).details.problems).toEqual([
      { field: 'predictionId', row: 0, message: expect.stringContaining('expected string') },
    ]);
  });
});

describe('durationMs', () => {
  it('reads config durations', () => {
    expect(durationMs(250)).toBe(250);
    expect(durationMs('500ms')).toBe(500);
    expect(durationMs('5s')).toBe(5000);
    expect(durationMs('2m')).toBe(120_000);
    expect(durationMs('1h')).toBe(3_600_000);
    expect(() => durationMs('5 parsecs')).toThrow(/expected a duration/);
  });
});

describe('TokenCache', () => {
  const hash = (t: string) => createHash('sha256').update(t).digest('hex');

  function tokenDb() {
    const state = {
      queries: 0,
      fail: false,
      tokens: new Map([[hash('good'), { principal: 'alice', roles: ['predict'] }]]),
    };
    const db = {
      async query(_text: string, [h]: [string]) {
        state.queries++;
        await Promise.resolve();
        if (state.fail) throw new Error('database down');
        const t = state.tokens.get(h);
        return { rows: t ? [{ tokenId: 'id', ...t }] : [] };
      },
    } as unknown as Queryable;
    return { db, state };
  }

  it('asks the database once per token while the entry is fresh, and again after it expires', async () => {
    const { db, state } = tokenDb();
    let now = 0;
    const cache = new TokenCache(db, { ttlMs: 30_000, negativeTtlMs: 5_000, now: () => now });
    const [a, b] = await Promise.all([cache.lookup('good'), cache.lookup('good')]);
    expect(a).toMatchObject({ principal: 'alice' });
    expect(b).toBe(a);
    expect(state.queries).toBe(1);
    now = 29_000;
    await cache.lookup('good');
    expect(state.queries).toBe(1);
    now = 31_000;
    await cache.lookup('good');
    expect(state.queries).toBe(2);
  });

  it('remembers unknown tokens briefly and failed lookups not at all', async () => {
    const { db, state } = tokenDb();
    let now = 0;
    const cache = new TokenCache(db, { now: () => now });
    expect(await cache.lookup('bad')).toBeUndefined();
    expect(await cache.lookup('bad')).toBeUndefined();
    expect(state.queries).toBe(1);
    now = 6_000;
    await cache.lookup('bad');
    expect(state.queries).toBe(2);

    state.fail = true;
    await expect(cache.lookup('good')).rejects.toThrow('database down');
    state.fail = false;
    expect(await cache.lookup('good')).toMatchObject({ principal: 'alice' });
  });

  it('answers a token a connection presented before from its memo, until the entry expires or is revoked', async () => {
    const { db, state } = tokenDb();
    let now = 0;
    const cache = new TokenCache(db, { ttlMs: 30_000, now: () => now });
    const memo = {};
    // Not known yet: the lookup, then the answer without one.
    expect(await cache.checkRemembered('good', memo)).toMatchObject({ principal: 'alice' });
    expect(cache.checkRemembered('good', memo)).toEqual({ principal: expect.objectContaining({ principal: 'alice' }) });
    expect(state.queries).toBe(1);
    expect(memo).toMatchObject({ token: 'good' });
    // Another token on the connection is looked up as itself.
    expect(await cache.checkRemembered('bad', memo)).toBeUndefined();
    expect(cache.checkRemembered('good', memo)).toEqual({ principal: expect.objectContaining({ principal: 'alice' }) });
    expect(state.queries).toBe(2);
    // A revocation forgets the token everywhere: the memo no longer answers.
    cache.forget('id');
    state.tokens.clear();
    expect(await cache.checkRemembered('good', memo)).toBeUndefined();
    expect(state.queries).toBe(3);
    // Expiry: an entry past its time is looked up again.
    state.tokens.set(hash('good'), { principal: 'alice', roles: ['predict'] });
    now = 6_000;
    expect(await cache.checkRemembered('good', memo)).toMatchObject({ principal: 'alice' });
    expect(state.queries).toBe(4);
    now = 40_000;
    expect(await cache.checkRemembered('good', memo)).toMatchObject({ principal: 'alice' });
    expect(state.queries).toBe(5);
  });

  it('forgets the least recently used token beyond its size', async () => {
    const { db, state } = tokenDb();
    const cache = new TokenCache(db, { max: 2 });
    await cache.lookup('good');
    await cache.lookup('x');
    await cache.lookup('good');
    await cache.lookup('y');
    expect(state.queries).toBe(3);
    await cache.lookup('good');
    expect(state.queries).toBe(3);
    await cache.lookup('x');
    expect(state.queries).toBe(4);
  });
});

describe('client JSON', () => {
  it('refuses NUL characters and lone surrogates in keys and values, and a __proto__ key', () => {
    for (const text of [
      '{"row": {"Island": "Dre\\u0000am"}}',
      '{"row": {"Island": "\\ud800"}}',
      '{"row": {"Island": "x\\udc00"}}',
      '{"row": {"\\u0000": 1}}',
      '{"row": {"__proto__": {"x": 1}}}',
      '{"row": {"\\u005f_proto__": 1}}',
    ])
      expect(() => parseClientJson(text), text).toThrow(RefusedJsonError);
    // A surrogate pair (an emoji) and ordinary escapes are fine.
    expect(parseClientJson('{"row": {"Island": "\\ud83d\\udc27 \\u00e9"}}')).toEqual({ row: { Island: '🐧 é' } });
    expect(() => parseClientJson('{"row": ')).toThrow(SyntaxError);
  });

  it('keeps error answers under 64 KiB whatever the request held', () => {
    const problems = Array.from({ length: 20_000 }, (_, i) => ({
      field: `f${i}`,
      message: 'unknown field',
      value: 'x'.repeat(5000),
    }));
    const body = boundedError({ error: `bad: ${'y'.repeat(100_000)}`, problems });
    expect(Buffer.byteLength(JSON.stringify(body))).toBeLessThan(64 * 1024);
    expect(body.problemsOmitted).toBe(19_900);
    expect((body.problems as unknown[]).length).toBe(100);
    expect(body.error).toMatch(/… \(95909 more characters\)$/);
    expect(boundedError({ error: 'short', problems: [{ field: 'a' }] })).toEqual({
      error: 'short',
      problems: [{ field: 'a' }],
    });
  });
});
