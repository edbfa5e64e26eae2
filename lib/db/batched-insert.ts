import type { Pool } from './pool.js';

/**
 * Rows a server writes off its request path: appended to a batch, written every `flushMs` in one statement. A failed
 * write keeps its rows (up to `maxRows` in all) for the next flush; past that, new rows are dropped and counted.
 */
export class BatchedInsert<R> {
  private batch: R[] = [];
  private readonly timer: NodeJS.Timeout;
  private flushing: Promise<void> | undefined;
  dropped = 0;

  constructor(
    private readonly db: Pool,
    flushMs: number,
    /** The statement that writes a batch. */
    private readonly insert: (rows: R[]) => { text: string; values: unknown[] },
    private readonly onError: (err: unknown) => void,
    private readonly maxRows = 10_000
  ) {
    this.timer = setInterval(() => void this.flush(), flushMs);
    this.timer.unref();
  }

  record(row: R): void {
    if (this.batch.length < this.maxRows) this.batch.push(row);
    else this.dropped++;
  }

  flush(): Promise<void> {
    if (this.flushing) return this.flushing;
    if (!this.batch.length) return Promise.resolve();
    const rows = this.batch;
    this.batch = [];
    this.flushing = this.db
      .query(this.insert(rows))
      .then(
        () => undefined,
        (err: unknown) => {
          this.batch = [...rows, ...this.batch].slice(0, this.maxRows);
          this.onError(err);
        }
      )
      .finally(() => (this.flushing = undefined));
    return this.flushing;
  }

  /** Stops the timer and writes what is left (once more if a write was under way). */
  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flushing;
    await this.flush();
  }
}
