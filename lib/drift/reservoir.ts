/**
 * Seeded reservoir sampling, to cap the sample a KS test sees (and the reference sample a model package carries)
 * whatever the size of the column. Li's Algorithm L (1994): after the reservoir fills, it jumps straight to the next
 * value that enters it, so a million values cost about k ln(n / k) random draws instead of n.
 *
 * The state is a plain object (typed array plus numbers, the PRNG state included), so it can be handed to a worker
 * thread or kept between chunks, and the sample depends only on (capacity, seed, the sequence of non-NaN values),
 * not on how that sequence was cut into chunks. NaN values are skipped: the sample is of the values present.
 */
import { deriveSeed } from '../ml/random.js';

export interface ReservoirState {
  capacity: number;
  /** Non-NaN values offered so far. */
  seen: number;
  /** The first min(seen, capacity) entries are the sample, in no particular order. */
  values: Float64Array;
  /** mulberry32 state: the same generator as lib/ml/random.ts, kept here so that the state can be carried over. */
  random: number;
  /** Algorithm L's running weight W. */
  weight: number;
  /** 0-based position (among non-NaN values) of the next value to enter the full reservoir. */
  next: number;
}

/** mulberry32 step on the state; a uniform in (0, 1), never 0 (its logarithm is taken). */
function uniform(state: ReservoirState): number {
  const a = (state.random + 0x6d2b79f5) >>> 0;
  state.random = a;
  let t = Math.imul(a ^ (a >>> 15), a | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return (((t ^ (t >>> 14)) >>> 0) + 0.5) / 4294967296;
}

function skip(state: ReservoirState): void {
  state.next += Math.floor(Math.log(uniform(state)) / Math.log1p(-state.weight)) + 1;
}

export function createReservoir(capacity: number, seed: number): ReservoirState {
  if (!Number.isInteger(capacity) || capacity < 1) {
    throw new RangeError(`reservoir capacity must be a positive integer, got ${capacity}`);
  }
  if (!Number.isSafeInteger(seed)) throw new RangeError(`reservoir seed must be a safe integer, got ${seed}`);
  return { capacity, seen: 0, values: new Float64Array(capacity), random: deriveSeed(seed), weight: 0, next: 0 };
}

/** Offers a chunk of values to the reservoir (mutates `state`). */
export function reservoirAdd(state: ReservoirState, values: Float64Array): void {
  const { capacity, values: sample } = state;
  const n = values.length;
  let seen = state.seen;
  let i = 0;
  while (seen < capacity && i < n) {
    const v = values[i++]!;
    if (v !== v) continue;
    sample[seen++] = v;
    if (seen === capacity) {
      state.weight = Math.exp(Math.log(uniform(state)) / capacity);
      state.next = capacity - 1;
      skip(state);
    }
  }
  let next = state.next;
  while (i < n) {
    // Pass over the values before position `next`: all they need is counting (NaN has no position).
    while (seen < next && i < n) {
      const end = Math.min(n, i + (next - seen));
      let nan = 0;
      for (let k = i; k < end; k++) if (values[k] !== values[k]) nan++;
      seen += end - i - nan;
      i = end;
    }
    if (i >= n) break;
    const v = values[i++]!;
    if (v !== v) continue;
    seen++;
    sample[Math.floor(uniform(state) * capacity)] = v;
    state.weight *= Math.exp(Math.log(uniform(state)) / capacity);
    skip(state);
    next = state.next;
  }
  state.seen = seen;
}

/** The current sample (a copy). */
export function reservoirValues(state: ReservoirState): Float64Array {
  return state.values.slice(0, Math.min(state.seen, state.capacity));
}

/** A uniform sample of at most `capacity` non-NaN values of `values`, the same for the same seed. */
export function reservoirSample(values: Float64Array, capacity: number, seed: number): Float64Array {
  const state = createReservoir(capacity, seed);
  reservoirAdd(state, values);
  return reservoirValues(state);
}
