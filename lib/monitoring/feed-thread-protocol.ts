import type { CairnConfig } from '../config/index.js';
import type { WireBatch, WireModel } from './feed-wire.js';

/** What the feed thread starts with (`workerData`). */
export interface FeedThreadData {
  database: CairnConfig['database'];
  environment: string;
  server: string;
  maxPendingSamples?: number;
  /** The thread's timed flush; 0: only when asked. */
  flushIntervalMs: number;
}

/** Serving thread → feed thread. */
export type ToFeedThread =
  | { type: 'model'; model: WireModel }
  /** The category values the encoder interned so far: what a restarted thread is told first. */
  | { type: 'interned'; values: string[] }
  | { type: 'batch'; batch: WireBatch }
  | { type: 'flush'; id: number }
  | { type: 'flush-samples'; id: number; ids: string[] }
  | { type: 'close'; id: number };

/** What the recorder counted so far: sent with every message from the thread. */
export interface FeedCounts {
  droppedSamples: number;
  rejectedSamples: number;
  flushErrors: number;
}

export interface WireError {
  message: string;
  code?: string;
  stack?: string;
}

/** Feed thread → serving thread. */
export type FromFeedThread =
  | ({ type: 'reply'; id: number; counts: FeedCounts } & (
      { ok: true; value: unknown } | { ok: false; error: WireError }
    ))
  | { type: 'flush-error'; error: WireError; counts: FeedCounts }
  | { type: 'rejected-sample'; error: WireError; id: string; counts: FeedCounts }
  /** A batch's buffer, decoded and given back (transferred) for the next batches. */
  | { type: 'recycle'; nums: Float64Array; counts: FeedCounts };

export function toWireError(err: unknown): WireError {
  if (!(err instanceof Error)) return { message: String(err) };
  const code = (err as { code?: unknown }).code;
  return {
    message: err.message,
    ...(typeof code === 'string' ? { code } : {}),
    ...(err.stack ? { stack: err.stack } : {}),
  };
}

export function fromWireError(e: WireError): Error {
  const err = Object.assign(new Error(e.message), e.code ? { code: e.code } : {});
  if (e.stack) err.stack = e.stack;
  return err;
}
