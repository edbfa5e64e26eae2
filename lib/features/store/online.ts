// The online store: each entity's latest feature values in Redis, keyed by view version, written idempotently.
import { createClient } from '@redis/client';
import type { CairnConfig } from '../../config/index.js';
import type { Logger } from '../../logging/logger.js';
import type { FeatureRows, FeatureView } from './view.js';

const redisClient = (url: string, connectTimeout: number) =>
  createClient({
    url,
    disableOfflineQueue: true,
    socket: { connectTimeout, reconnectStrategy: (retries) => Math.min(100 * 2 ** retries, 5000) },
  });
export type Redis = ReturnType<typeof redisClient>;

/** Where the online store is: the Redis URL and the prefix of Cairn's keys. */
export interface OnlineStoreSettings {
  url: string;
  prefix: string;
}

export function onlineStoreOf(config: Pick<CairnConfig, 'features'>): OnlineStoreSettings {
  return { url: config.features.redisUrl, prefix: config.features.prefix };
}

/** The online store as recorded with a materialisation: its address without credentials, and the key prefix. */
export function onlineStoreName(settings: OnlineStoreSettings): string {
  return `${redactUrl(settings.url)}#${settings.prefix}`;
}

/**
 * A Redis client that never takes the process down: errors are logged (the client reconnects with a bounded
 * backoff), connecting gives up after `connectTimeout`, and commands fail at once while disconnected instead of
 * queueing without bound.
 */
export async function connectRedis(url: string, logger: Logger, connectTimeout = 5000): Promise<Redis> {
  const client = redisClient(url, connectTimeout);
  let reported = false;
  client.on('error', (err: Error) => {
    // One line per outage, not one per reconnect attempt.
    if (!reported) logger.warn({ err: err.message, url: redactUrl(url) }, 'redis unreachable; reconnecting');
    reported = true;
  });
  client.on('ready', () => (reported = false));
  try {
    await client.connect();
  } catch (err) {
    client.destroy();
    throw err;
  }
  return client;
}

function redactUrl(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//');
}

/** Which view version's values a key holds: the definition digest, so a changed view never reads old values. */
export interface ViewVersion {
  name: string;
  digest: string;
}

/** `<prefix>fv:<view>:<first 16 hex of its digest>:<entity key parts as JSON>`. */
export function onlineKey(prefix: string, view: ViewVersion, parts: readonly string[]): string {
  return `${prefix}fv:${view.name}:${view.digest.slice(7, 23)}:${JSON.stringify(parts)}`;
}

/** One entity's values as stored: when they were true (event time, ms) and each feature's value, in view order. */
export interface OnlineValue {
  time: number;
  values: number[];
}

/** `[eventTime, value, …]` as JSON; a missing value (NaN) is null. */
export function encodeOnline(time: number, values: ArrayLike<number>): string {
  let out = `[${time}`;
  for (let i = 0; i < values.length; i++) out += Number.isFinite(values[i]) ? `,${values[i]}` : ',null';
  return `${out}]`;
}

export function decodeOnline(text: string): OnlineValue {
  const [time, ...values] = JSON.parse(text) as (number | null)[];
  return { time: time!, values: values.map((v) => v ?? NaN) };
}

// Sets each key unless it already holds a later event: a retry or a rerun writes the same value again, and an
// older materialisation finishing late never overwrites a newer one. ARGV holds (time, value) pairs.
const WRITE_LATEST = `
local written = 0
for i, key in ipairs(KEYS) do
  local t = tonumber(ARGV[2 * i - 1])
  local old = redis.call('GET', key)
  local oldT = old and tonumber(string.match(old, '^%[([^,%]]+)'))
  if not oldT or oldT <= t then
    redis.call('SET', key, ARGV[2 * i])
    written = written + 1
  end
end
return written`;

export interface WriteLatestOptions {
  /** Only events at or before this time (ms): the values as they were known then. */
  asOf: number;
  /** Only entities whose latest event (at or before `asOf`) is after this time: the incremental part. */
  after?: number;
  /** Entities per Redis round trip. @default 500 */
  chunk?: number;
  /** Called after each chunk with the entities done so far (for heartbeats). */
  progress?: (done: number, total: number) => void | Promise<void>;
  /** Stops between chunks when aborted (the activity cancelled, the worker shutting down). */
  signal?: AbortSignal;
}

/**
 * Writes each entity's latest values (its last event at or before `asOf`) to Redis. `rows` are in (entity, time)
 * order and `keys[id]` is the key of entity id. Idempotent: writing the same rows again leaves the same contents.
 */
export async function writeLatest(
  redis: Redis,
  prefix: string,
  view: FeatureView,
  rows: FeatureRows,
  keys: readonly (readonly string[])[],
  options: WriteLatestOptions
): Promise<{ entities: number; written: number }> {
  const { asOf, after = -Infinity, chunk = 500 } = options;
  const latest: number[] = [];
  const n = rows.time.length;
  for (let i = 0; i < n; i++) {
    const last = i + 1 === n || rows.entity[i + 1] !== rows.entity[i];
    // The entity's last row at or before asOf: this one, if the next is another entity's or after asOf.
    if (rows.time[i]! <= asOf && (last || rows.time[i + 1]! > asOf) && rows.time[i]! > after) latest.push(i);
  }
  const columns = view.features.map((f) => rows.values[f.name]!);
  let written = 0;
  for (let start = 0; start < latest.length; start += chunk) {
    options.signal?.throwIfAborted();
    const at = latest.slice(start, start + chunk);
    const keyList = at.map((i) => onlineKey(prefix, view, keys[rows.entity[i]!]!));
    const args = at.flatMap((i) => [
      String(rows.time[i]!),
      encodeOnline(
        rows.time[i]!,
        columns.map((c) => c[i]!)
      ),
    ]);
    written += Number(await redis.eval(WRITE_LATEST, { keys: keyList, arguments: args }));
    await options.progress?.(Math.min(start + chunk, latest.length), latest.length);
  }
  return { entities: latest.length, written };
}

/** The stored values of each entity (by its key parts), undefined where none: one MGET. */
export async function readOnline(
  redis: Redis,
  prefix: string,
  view: ViewVersion,
  entities: readonly (readonly string[])[]
): Promise<(OnlineValue | undefined)[]> {
  if (!entities.length) return [];
  const found = await redis.mGet(entities.map((parts) => onlineKey(prefix, view, parts)));
  return found.map((text) => (text === null ? undefined : decodeOnline(String(text))));
}
