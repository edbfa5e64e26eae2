import type { Column, Table } from '../data/table.js';
import type { ServablePackage } from '../scoring/scorer.js';
import type { ColumnRule } from '../validate/contract.js';
import type { FeedModel, ServedRequest } from './feed.js';

/**
 * The monitoring feed's requests on their way from the serving thread to the feed thread (feed-thread.ts), packed
 * so that the serving thread allocates next to nothing per request and keeps nothing of it: numbers (column values,
 * missing flags, raw outputs, latency) go into one Float64Array whose buffer is transferred, not copied; category
 * values are interned (a value's code, its text sent once: a batch held for `batchMs` would otherwise keep every
 * request's strings alive into the old generation); prediction ids and sampled rows (inputs and predictions as
 * sent: `sampleRate` of the rows) into two arrays cloned once per batch.
 *
 * A record, in `nums`: slot, latency ms, rows, raw length (-1: the request failed on the server), the raw outputs;
 * then for each input column of the version (in `scorer.inputs` order) a tag (`Tag`) and its rows: numbers and
 * booleans as `rows` values then `rows` missing flags, strings as the dictionary length, each dictionary value's
 * interned code (a new code's text is the next string in `strs`; -1: not interned, its text is the next string)
 * and `rows` codes into that dictionary; last the number of sampled rows, each an id in `strs` and an input and a
 * prediction in `objs`.
 * The decoder rebuilds each record as the `ServedRequest` the recorder takes, so what is aggregated is exactly what
 * `FeedRecorder.record` would have made of the request on the serving thread.
 */

/** What a version's first record is preceded by: what the recorder reads of its package. */
export interface WireModel {
  slot: number;
  model: string;
  version: number;
  pkg: Pick<ServablePackage, 'task' | 'target' | 'classes' | 'referenceStatistics' | 'predictionLog'>;
  inputs: readonly ColumnRule[];
}

export interface WireBatch {
  /** The records; `used` numbers of it are meaningful. */
  nums: Float64Array;
  used: number;
  records: number;
  strs: string[];
  objs: unknown[];
}

const Tag = { absent: 0, number: 1, timestamp: 2, boolean: 3, string: 4 } as const;
type Tag = (typeof Tag)[keyof typeof Tag];

/** Category values interned per feed; values beyond travel as text in every record that has them. */
const MAX_INTERNED = 20_000;

/** What the wire needs of a served version on the serving side. */
export type EncodableModel = FeedModel;

export function wireModel(slot: number, m: EncodableModel): WireModel {
  const { task, target, classes, referenceStatistics, predictionLog } = m.scorer.pkg;
  return {
    slot,
    model: m.model,
    version: m.version,
    pkg: {
      task,
      target,
      referenceStatistics,
      ...(classes ? { classes } : {}),
      ...(predictionLog ? { predictionLog } : {}),
    },
    inputs: m.scorer.inputs,
  };
}

/** Appends records to a batch; `take` hands the batch over and starts a new one. */
export class FeedEncoder {
  private nums: Float64Array;
  private at = 0;
  private strs: string[] = [];
  private objs: unknown[] = [];
  private sampleCountAt = -1;
  /** Buffers the feed thread gave back, for the next batches (no allocation in steady state). */
  private readonly spare: Float64Array[] = [];
  /** Category values interned so far, in code order. */
  private readonly interned: string[] = [];
  private readonly codes = new Map<string, number>();
  /** How many of them batches already taken introduced (the batch under way carries the text of the rest). */
  private introduced = 0;
  /** Records in the batch under way. */
  records = 0;

  constructor(
    private readonly initialCapacity = 16_384,
    private readonly maxInterned = MAX_INTERNED
  ) {
    this.nums = new Float64Array(initialCapacity);
  }

  /**
   * The values batches already taken introduced: what a feed thread started after them must be told before the
   * next batch (which introduces the others itself).
   */
  internedBefore(): string[] {
    return this.interned.slice(0, this.introduced);
  }

  /** A batch's buffer back from the feed thread, to be filled again. */
  recycle(nums: Float64Array): void {
    if (this.spare.length < 4) this.spare.push(nums);
  }

  /** Numbers in the batch under way. */
  get size(): number {
    return this.at;
  }

  private room(n: number): void {
    if (this.at + n <= this.nums.length) return;
    const grown = new Float64Array(Math.max(this.nums.length * 2, this.at + n));
    grown.set(this.nums.subarray(0, this.at));
    this.nums = grown;
  }

  /**
   * One request: `columns` are the version's input columns (`scorer.inputs`, by name), `raw` is absent when the
   * request failed on the server. Its sampled rows, if any, follow with `addSample` before the next `add`.
   */
  add(slot: number, columns: readonly string[], latencyMs: number, table: Table, raw: Float64Array | undefined): void {
    const rows = table.rowCount;
    const rawLength = raw ? raw.length : 0;
    // Every number this record can take, at most: one growth check.
    this.room(5 + rawLength + columns.length * (2 + 2 * rows));
    const nums = this.nums;
    const strs = this.strs;
    let at = this.at;
    nums[at++] = slot;
    nums[at++] = latencyMs;
    nums[at++] = rows;
    nums[at++] = raw ? rawLength : -1;
    for (let i = 0; i < rawLength; i++) nums[at++] = raw![i]!;
    for (let c = 0; c < columns.length; c++) {
      const column = table.columns[columns[c]!];
      if (!column) {
        nums[at++] = Tag.absent;
      } else if (column.type === 'string') {
        const { dictionary, codes } = column;
        nums[at++] = Tag.string;
        nums[at++] = dictionary.length;
        for (let i = 0; i < dictionary.length; i++) {
          const value = dictionary[i]!;
          let code = this.codes.get(value);
          if (code === undefined) {
            strs.push(value);
            if (this.interned.length < this.maxInterned) {
              code = this.interned.length;
              this.interned.push(value);
              this.codes.set(value, code);
            } else code = -1;
          }
          nums[at++] = code;
        }
        for (let i = 0; i < rows; i++) nums[at++] = codes[i]!;
      } else {
        nums[at++] = column.type === 'number' ? Tag.number : column.type === 'timestamp' ? Tag.timestamp : Tag.boolean;
        const { values, missing } = column;
        for (let i = 0; i < rows; i++) nums[at++] = values[i]!;
        for (let i = 0; i < rows; i++) nums[at++] = missing[i]!;
      }
    }
    this.sampleCountAt = at;
    nums[at++] = 0;
    this.at = at;
    this.records++;
  }

  /** A row of the last request kept for the prediction log: its id, the row as sent and its prediction. */
  addSample(id: string, input: unknown, output: unknown): void {
    this.nums[this.sampleCountAt]!++;
    this.strs.push(id);
    this.objs.push(input, output);
  }

  /** The batch so far (undefined when empty); the encoder starts a new one. */
  take(): WireBatch | undefined {
    if (this.records === 0) return undefined;
    const batch: WireBatch = {
      nums: this.nums,
      used: this.at,
      records: this.records,
      strs: this.strs,
      objs: this.objs,
    };
    this.introduced = this.interned.length;
    this.nums = this.spare.pop() ?? new Float64Array(Math.max(this.initialCapacity, this.at + (this.at >> 1)));
    this.at = 0;
    this.records = 0;
    this.strs = [];
    this.objs = [];
    this.sampleCountAt = -1;
    return batch;
  }
}

/** One input column of a group: its rows so far, in the buffers of its tag, grown as needed. */
class MergedColumn {
  tag: Tag = Tag.absent;
  values = new Float64Array(64);
  flags = new Uint8Array(64);
  bools = new Uint8Array(64);
  codes = new Int32Array(64);
  /** The group's dictionary of a string column (first appearance order) and each value's code. */
  readonly dictionary: string[] = [];
  readonly index = new Map<string, number>();

  fit(rows: number): void {
    if (rows <= this.values.length) return;
    const n = Math.max(rows, this.values.length * 2);
    const grow = <T extends Float64Array | Uint8Array | Int32Array>(a: T, make: (n: number) => T): T => {
      const b = make(n);
      b.set(a);
      return b;
    };
    this.values = grow(this.values, (k) => new Float64Array(k));
    this.flags = grow(this.flags, (k) => new Uint8Array(k));
    this.bools = grow(this.bools, (k) => new Uint8Array(k));
    this.codes = grow(this.codes, (k) => new Int32Array(k));
  }

  /** The column as the recorder reads it (the first `rowCount` rows count), undefined when absent. */
  column(): Column | undefined {
    switch (this.tag) {
      case Tag.absent:
        return undefined;
      case Tag.number:
        return { type: 'number', values: this.values, missing: this.flags };
      case Tag.timestamp:
        return { type: 'timestamp', values: this.values, missing: this.flags };
      case Tag.boolean:
        return { type: 'boolean', values: this.bools, missing: this.flags };
      default:
        return { type: 'string', codes: this.codes, dictionary: this.dictionary };
    }
  }

  reset(): void {
    this.tag = Tag.absent;
    this.dictionary.length = 0;
    this.index.clear();
  }
}

/**
 * Requests of one version with one outcome (answered, or failed on the server), merged: their rows in one table,
 * their raw outputs end to end, their latencies and sampled rows in order.
 */
class Group {
  requests = 0;
  rows = 0;
  latencies: number[] = [];
  raw = new Float64Array(64);
  rawUsed = 0;
  readonly columns: MergedColumn[];
  readonly log = { ids: [] as string[], inputs: [] as unknown[], outputs: [] as unknown[] };

  constructor(
    readonly model: FeedModel,
    readonly names: string[],
    readonly answered: boolean
  ) {
    this.columns = names.map(() => new MergedColumn());
  }

  reset(): void {
    this.requests = 0;
    this.rows = 0;
    this.latencies.length = 0;
    this.rawUsed = 0;
    for (const c of this.columns) c.reset();
    this.log.ids.length = 0;
    this.log.inputs.length = 0;
    this.log.outputs.length = 0;
  }
}

interface SlotState {
  answered: Group;
  failed: Group;
}

const EMPTY: Table = Object.freeze({ rowCount: 0, names: [], columns: {} }) as Table;

/**
 * Rebuilds a batch's records for `FeedRecorder.record`, merged per version: the requests a version answered in the
 * batch become one request carrying all their rows (their columns, raw outputs and sampled rows end to end) and
 * one empty request (no rows, no outputs) for each of the others, each with its own latency; likewise the requests
 * that failed. The recorder's counts are sums (requests, rows, errors, predictions, per-bin and per-value counts,
 * categories in order of first appearance), so the windows it writes are the ones it would have made of the
 * requests one by one, for a fraction of the work. A request whose columns differ from the group's (one left out,
 * or of another type: not for contract-checked rows) starts a new group.
 */
export class FeedDecoder {
  private readonly slots: (SlotState | undefined)[] = [];
  /** Groups with records in the batch being decoded. */
  private readonly pending: Group[] = [];
  /** The encoder's interned category values, by code. */
  private readonly interned: string[] = [];
  /** The values of the dictionary of the column being decoded. */
  private readonly local: string[] = [];

  /** Category values the encoder interned before this decoder existed (a restarted thread). */
  intern(values: readonly string[]): void {
    for (const v of values) this.interned.push(v);
  }

  register(m: WireModel): void {
    const model: FeedModel = {
      model: m.model,
      version: m.version,
      scorer: { pkg: m.pkg as ServablePackage, inputs: m.inputs },
    };
    const names = m.inputs.map((r) => r.column);
    this.slots[m.slot] = { answered: new Group(model, names, true), failed: new Group(model, names, false) };
  }

  /** Calls `record` with the batch's requests, merged as the class comment says. */
  decode(batch: WireBatch, record: (r: ServedRequest) => void): void {
    const { nums, used, strs, objs } = batch;
    let at = 0;
    let s = 0;
    let o = 0;
    while (at < used) {
      const slot = this.slots[nums[at]!];
      if (!slot) throw new Error(`feed wire: a record of unregistered slot ${nums[at]}`);
      const latencyMs = nums[at + 1]!;
      const rows = nums[at + 2]!;
      const rawLength = nums[at + 3]!;
      const group = rawLength >= 0 ? slot.answered : slot.failed;
      const rawAt = at + 4;
      at = rawAt + Math.max(rawLength, 0);
      // A column whose type differs from the group's so far: the group is recorded first.
      if (group.requests > 0 && !this.sameTags(group, nums, at, rows)) this.emit(group, record);
      if (group.requests === 0) this.pending.push(group);
      const first = group.rows;
      const total = first + rows;
      group.requests++;
      group.rows = total;
      group.latencies.push(latencyMs);
      if (rawLength > 0) {
        if (group.raw.length < group.rawUsed + rawLength) {
          const grown = new Float64Array(Math.max(group.rawUsed + rawLength, group.raw.length * 2));
          grown.set(group.raw.subarray(0, group.rawUsed));
          group.raw = grown;
        }
        group.raw.set(nums.subarray(rawAt, rawAt + rawLength), group.rawUsed);
        group.rawUsed += rawLength;
      }
      for (const col of group.columns) {
        const tag = nums[at++] as Tag;
        col.tag = tag;
        col.fit(total);
        if (tag === Tag.absent) continue;
        if (tag === Tag.string) {
          const size = nums[at++]!;
          const local = this.local;
          local.length = size;
          for (let i = 0; i < size; i++) {
            const code = nums[at++]!;
            if (code === -1) local[i] = strs[s++]!;
            else {
              if (code === this.interned.length) this.interned.push(strs[s++]!);
              else if (code > this.interned.length) throw new Error(`feed wire: category code ${code} out of order`);
              local[i] = this.interned[code]!;
            }
          }
          const codes = col.codes;
          for (let i = first; i < total; i++) {
            const k = nums[at++]!;
            if (k < 0) {
              codes[i] = -1;
              continue;
            }
            const value = local[k]!;
            let code = col.index.get(value);
            if (code === undefined) {
              code = col.dictionary.length;
              col.dictionary.push(value);
              col.index.set(value, code);
            }
            codes[i] = code;
          }
          continue;
        }
        const values = tag === Tag.boolean ? col.bools : col.values;
        for (let i = first; i < total; i++) values[i] = nums[at++]!;
        const flags = col.flags;
        for (let i = first; i < total; i++) flags[i] = nums[at++]!;
      }
      const samples = nums[at++]!;
      for (let i = 0; i < samples; i++) {
        group.log.ids.push(strs[s++]!);
        group.log.inputs.push(objs[o++]);
        group.log.outputs.push(objs[o++]);
      }
    }
    for (const group of this.pending) this.emit(group, record);
    this.pending.length = 0;
  }

  /** Whether the record whose columns start at `at` has the group's columns, of the group's types. */
  private sameTags(group: Group, nums: Float64Array, at: number, rows: number): boolean {
    for (const col of group.columns) {
      const tag = nums[at] as Tag;
      if (tag !== col.tag) return false;
      at += tag === Tag.absent ? 1 : tag === Tag.string ? 2 + nums[at + 1]! + rows : 1 + 2 * rows;
    }
    return true;
  }

  private emit(group: Group, record: (r: ServedRequest) => void): void {
    if (group.requests === 0) return;
    const columns: Record<string, Column> = {};
    group.columns.forEach((col, c) => {
      const column = col.column();
      if (column) columns[group.names[c]!] = column;
    });
    const table: Table = { rowCount: group.rows, names: group.names, columns };
    const { model, latencies } = group;
    if (group.answered) {
      const raw = group.raw.subarray(0, group.rawUsed);
      record(
        group.log.ids.length
          ? { model, latencyMs: latencies[0]!, table, raw, log: group.log }
          : { model, latencyMs: latencies[0]!, table, raw }
      );
    } else record({ model, latencyMs: latencies[0]!, table });
    for (let i = 1; i < latencies.length; i++) record({ model, latencyMs: latencies[i]!, table: EMPTY });
    group.reset();
  }
}
