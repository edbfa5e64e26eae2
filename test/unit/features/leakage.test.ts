import { describe, expect, it } from 'vitest';
import { leakage } from '../../../bench/feature-leakage.js';

describe('point-in-time correctness on flights', () => {
  it('a naive join timed by departure leaks each flight its own delay: it scores far better held out than the correct join', async () => {
    const r = await leakage(300_000, 30);
    // The correct features help a little; the leaky ones help much more, with information no server has.
    expect(r.pointInTime).toBeLessThan(r.baseline);
    expect(r.leaky).toBeLessThan(r.pointInTime * 0.9);
  }, 120_000);
});
