// The feed thread's body (started by FeedThread through feed-thread-entry.mjs): a FeedRecorder with a PostgreSQL pool
// of its own, fed the serving thread's batches. Aggregation, sampling policy, JSON and every write happen here.
import { parentPort, workerData } from 'node:worker_threads';
import { createPool } from '../db/pool.js';
import { FeedRecorder } from './feed.js';
import type { FeedCounts, FeedThreadData, FromFeedThread, ToFeedThread } from './feed-thread-protocol.js';
import { toWireError } from './feed-thread-protocol.js';
import { FeedDecoder } from './feed-wire.js';

const data = workerData as FeedThreadData;
const port = parentPort!;
const db = createPool({ database: data.database });
const decoder = new FeedDecoder();
const recorder: FeedRecorder = new FeedRecorder({
  db,
  environment: data.environment,
  server: data.server,
  // The serving thread sampled already: every row a batch carries in its log is kept.
  sampleRate: 1,
  random: () => 0,
  ...(data.maxPendingSamples === undefined ? {} : { maxPendingSamples: data.maxPendingSamples }),
  onFlushError: (err) => post({ type: 'flush-error', error: toWireError(err), counts: counts() }),
  onRejectedSample: (err, id) => post({ type: 'rejected-sample', error: toWireError(err), id, counts: counts() }),
});
const record = recorder.record.bind(recorder);

function counts(): FeedCounts {
  return {
    droppedSamples: recorder.droppedSamples,
    rejectedSamples: recorder.rejectedSamples,
    flushErrors: recorder.flushErrors,
  };
}

function post(message: FromFeedThread): void {
  port.postMessage(message);
}

function answer(id: number, work: Promise<unknown>): Promise<void> {
  return work.then(
    (value) => post({ type: 'reply', id, ok: true, value, counts: counts() }),
    (err: unknown) => post({ type: 'reply', id, ok: false, error: toWireError(err), counts: counts() })
  );
}

port.on('message', (m: ToFeedThread) => {
  switch (m.type) {
    case 'model':
      decoder.register(m.model);
      return;
    case 'interned':
      decoder.intern(m.values);
      return;
    case 'batch':
      try {
        decoder.decode(m.batch, record);
      } finally {
        const { nums } = m.batch;
        port.postMessage({ type: 'recycle', nums, counts: counts() } satisfies FromFeedThread, [
          nums.buffer as ArrayBuffer,
        ]);
      }
      return;
    case 'flush':
      void answer(m.id, recorder.flush());
      return;
    case 'flush-samples':
      void answer(m.id, recorder.hasPendingSamples(m.ids) ? recorder.flushSamples() : Promise.resolve(0));
      return;
    case 'close':
      void answer(m.id, recorder.close()).finally(async () => {
        await db.end().catch(() => undefined);
        port.close();
      });
      return;
  }
});

if (data.flushIntervalMs > 0) recorder.start(data.flushIntervalMs);
