import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebStream } from 'node:stream/web';
import type { Client } from 'minio';
import pg from 'pg';
import { hashFile, sha256 } from '../../artifacts/digest.js';
import { canonicalJson } from '../../ml/canonical-json.js';
import { TableBuilder } from '../append.js';
import { parseIsoTimestamp } from '../cells.js';
import { formatOf, readTable } from '../read-table.js';
import { datasetDigest } from '../snapshot.js';
import type { ManifestSource, SourcePart } from '../snapshot.js';
import type { TableFormat } from '../read-table.js';
import { DataReadError } from '../table.js';
import type { ColumnType, Table } from '../table.js';
import { checkRoots, kindOf } from './roots.js';

export { checkRoots, kindOf } from './roots.js';

/** What a pipeline reads: a file, an `s3://bucket/prefix` of Parquet parts, a `postgres://` query, an http(s) URL. */
export interface SourceRequest {
  path: string;
  format?: TableFormat;
  /** Only the first rows. */
  limit?: number;
  /** The SQL query of a `postgres://` source. */
  query?: string;
  /**
   * An `s3://` prefix read incrementally: when the parts of `previous` (the last accepted snapshot's) are the first
   * parts of the prefix, unchanged, only the newer parts are read and appended to that snapshot's table.
   */
  incremental?: boolean;
}

/** Where a table came from, as the dataset manifest records it. */
export type SourceRecord = ManifestSource;

/** The last accepted snapshot of a source (its table, read when asked): what an incremental read appends to. */
export interface PreviousSnapshot {
  table: () => Promise<Table>;
  source: SourceRecord;
}

export interface SourceSettings {
  /** Directories, `npm:`, `s3://bucket[/prefix]`, `postgres://host[:port]/db` and `http(s)://host[/path]` prefixes. */
  roots: readonly string[];
  /** Resolves a path or `npm:` path to a local file. */
  resolvePath(path: string): string;
  /** The S3-compatible store `s3://` sources are read from (the artifact store's endpoint and credentials). */
  s3?: Client;
  /** Scratch space for downloaded parts, removed after each. */
  tmpDir: string;
}

export interface Sources {
  /**
   * What identifies the source's content without reading it all, for the cache: the file's digest, or a prefix's
   * listing. Undefined for queries and URLs, whose content is only known by reading it.
   */
  fingerprint(request: SourceRequest): Promise<{ digest: string; bytes: number } | undefined>;
  /** Reads the source into one table; `previous` is the last accepted snapshot, for incremental prefixes. */
  read(request: SourceRequest, previous?: PreviousSnapshot): Promise<{ table: Table; source: SourceRecord }>;
}

const FETCH_ROWS = 10_000;

/** Cairn's source plugins, one per URI kind, behind the allowed roots. */
export function createSources(settings: SourceSettings): Sources {
  const allowed = (request: SourceRequest) => {
    const kind = kindOf(request.path);
    const resolved = kind === 'file' ? settings.resolvePath(request.path) : request.path;
    checkRoots(request.path, resolved, settings.roots);
    return { kind, resolved };
  };

  return {
    async fingerprint(request) {
      const { kind, resolved } = allowed(request);
      if (kind === 'file') {
        return hashFile(resolved).catch((err: NodeJS.ErrnoException) => {
          throw err.code === 'ENOENT' ? new DataReadError(resolved, 'the file does not exist') : err;
        });
      }
      if (kind === 's3') {
        const parts = await listParts(s3Of(settings, request.path), request.path, request.format);
        return { digest: sha256(canonicalJson(parts)), bytes: parts.reduce((n, p) => n + p.bytes, 0) };
      }
      return undefined;
    },

    async read(request, previous) {
      const { kind, resolved } = allowed(request);
      switch (kind) {
        case 'file': {
          const file = await this.fingerprint(request);
          const table = await readTable(resolved, {
            ...(request.format ? { format: request.format } : {}),
            ...(request.limit ? { limit: request.limit } : {}),
          });
          return { table, source: { path: request.path, bytes: file!.bytes, sha256: file!.digest } };
        }
        case 's3':
          return readPrefix(settings, request, previous);
        case 'postgres':
          return readQuery(request);
        case 'http':
          return readUrl(settings, request);
      }
    },
  };
}

function s3Of(settings: SourceSettings, uri: string): Client {
  if (!settings.s3) throw new DataReadError(uri, 's3:// sources need an S3 store (store.kind s3)');
  return settings.s3;
}

/** `s3://bucket/prefix` → bucket and prefix. */
function splitS3(uri: string): { bucket: string; prefix: string } {
  const rest = uri.slice('s3://'.length);
  const slash = rest.indexOf('/');
  return slash < 0 ? { bucket: rest, prefix: '' } : { bucket: rest.slice(0, slash), prefix: rest.slice(slash + 1) };
}

/** The Parquet (or `format`) objects under a prefix, by key: the parts of the dataset, in order. */
async function listParts(client: Client, uri: string, format: TableFormat = 'parquet'): Promise<SourcePart[]> {
  const { bucket, prefix } = splitS3(uri);
  const parts: SourcePart[] = [];
  try {
    for await (const item of client.listObjectsV2(bucket, prefix, true)) {
      const object = item as { name?: string; size?: number; etag?: string };
      if (object.name && formatOf(object.name) === format)
        parts.push({ key: object.name, bytes: object.size ?? 0, etag: object.etag ?? '' });
    }
  } catch (err) {
    throw new DataReadError(uri, `cannot list the prefix: ${(err as Error).message}`);
  }
  if (!parts.length) throw new DataReadError(uri, `no ${format} objects under the prefix`);
  return parts.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

/**
 * Reads a prefix's parts one at a time (downloaded to scratch, read, appended, deleted), so memory holds the table
 * being built and one part. Incremental: the previous snapshot stands for the parts it was made of.
 */
async function readPrefix(
  settings: SourceSettings,
  request: SourceRequest,
  previous?: PreviousSnapshot
): Promise<{ table: Table; source: SourceRecord }> {
  const client = s3Of(settings, request.path);
  const { bucket } = splitS3(request.path);
  const parts = await listParts(client, request.path, request.format);
  const builder = new TableBuilder(request.path);
  let fresh = parts;
  const old = previous?.source.path === request.path ? previous.source.parts : undefined;
  if (request.incremental && !request.limit && old?.length && old.length < parts.length) {
    const same = old.every((p, i) => parts[i]?.key === p.key && parts[i].etag === p.etag && parts[i].bytes === p.bytes);
    if (same) {
      builder.appendTable(await previous!.table(), 'the previous snapshot');
      fresh = parts.slice(old.length);
    }
  }
  const limit = request.limit ?? Infinity;
  await mkdir(settings.tmpDir, { recursive: true });
  for (const part of fresh) {
    if (builder.rowCount >= limit) break;
    const file = join(settings.tmpDir, `part-${randomUUID()}${extname(part.key)}`);
    try {
      await client.fGetObject(bucket, part.key, file);
      const table = await readTable(file, { format: request.format ?? 'parquet' });
      builder.appendTable(table, `s3://${bucket}/${part.key}`, Math.min(table.rowCount, limit - builder.rowCount));
    } catch (err) {
      if (err instanceof DataReadError) throw new DataReadError(`s3://${bucket}/${part.key}`, err.reason);
      throw err;
    } finally {
      await rm(file, { force: true });
    }
  }
  return {
    table: builder.build(),
    source: {
      path: request.path,
      bytes: parts.reduce((n, p) => n + p.bytes, 0),
      sha256: sha256(canonicalJson(parts)),
      parts,
      ...(fresh !== parts ? { newParts: fresh.map((p) => p.key) } : {}),
    },
  };
}

const TYPES: Record<number, ColumnType> = {
  16: 'boolean',
  20: 'number',
  21: 'number',
  23: 'number',
  700: 'number',
  701: 'number',
  1700: 'number',
  25: 'string',
  1042: 'string',
  1043: 'string',
  19: 'string',
  1082: 'timestamp',
  1114: 'timestamp',
  1184: 'timestamp',
};

/** Values as Cairn reads them, never as the machine's time zone would: timestamps without a zone are UTC. */
function parseValue(oid: number, text: string): unknown {
  const type = TYPES[oid];
  if (type === 'number') return Number(text);
  if (type === 'timestamp') return parseIsoTimestamp(text.replace(/([+-]\d\d)$/, '$1:00')) ?? Number.NaN;
  if (type === 'boolean') return text === 't';
  return text;
}

/**
 * Runs a query through a server-side cursor, FETCH_ROWS rows at a time, appending each batch to the table: memory
 * holds the table being built and one batch, whatever the query returns.
 */
async function readQuery(request: SourceRequest): Promise<{ table: Table; source: SourceRecord }> {
  const uri = request.path;
  if (!request.query) throw new DataReadError(uri, 'a postgres:// source needs a `query`');
  const client = new pg.Client({ connectionString: uri, connectionTimeoutMillis: 10_000, statement_timeout: 0 });
  client.on('error', () => undefined);
  const shown = uri.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1@');
  try {
    await client.connect();
  } catch (err) {
    throw new Error(`cannot connect to ${shown}: ${(err as Error).message}`);
  }
  const builder = new TableBuilder(shown);
  const limit = request.limit ?? Infinity;
  try {
    await client.query('BEGIN READ ONLY');
    try {
      await client.query(`DECLARE cairn_source NO SCROLL CURSOR FOR ${request.query}`);
    } catch (err) {
      throw new DataReadError(shown, `the query failed: ${(err as Error).message}`);
    }
    const types = { getTypeParser: (oid: number) => (text: string) => parseValue(oid, text) };
    for (;;) {
      const batch = await client.query({
        text: `FETCH FORWARD ${FETCH_ROWS} FROM cairn_source`,
        types,
        rowMode: 'array',
      });
      if (builder.rowCount === 0 || !batch.rows.length) {
        const unknown = batch.fields.find((f) => !TYPES[f.dataTypeID]);
        if (unknown)
          throw new DataReadError(
            shown,
            `column ${unknown.name} has a type Cairn does not read (oid ${unknown.dataTypeID}); cast it in the query`,
            {
              column: unknown.name,
            }
          );
        builder.schema(
          batch.fields.map((f) => ({ name: f.name, type: TYPES[f.dataTypeID]! })),
          'the query'
        );
      }
      for (const row of batch.rows as unknown[][]) {
        if (builder.rowCount >= limit) break;
        builder.appendRow(row.map((v) => (v === null ? null : (v as number | string | boolean))));
      }
      if (batch.rows.length < FETCH_ROWS || builder.rowCount >= limit) break;
    }
    await client.query('COMMIT');
  } finally {
    await client.end().catch(() => undefined);
  }
  if (builder.rowCount === 0) throw new DataReadError(shown, 'the query returned no rows');
  const table = builder.build();
  // A query has no file: what it returned stands for it.
  return { table, source: { path: `${shown} ${request.query}`, bytes: 0, sha256: datasetDigest(table) } };
}

/** Downloads an http(s) file to scratch (streamed, never whole in memory) and reads it by its format. */
async function readUrl(
  settings: SourceSettings,
  request: SourceRequest
): Promise<{ table: Table; source: SourceRecord }> {
  const uri = request.path;
  const format = request.format ?? formatOf(new URL(uri).pathname);
  if (!format) throw new DataReadError(uri, 'cannot tell the format from the URL; set `format`');
  let res: Response;
  try {
    res = await fetch(uri, { signal: AbortSignal.timeout(600_000) });
  } catch (err) {
    throw new Error(`cannot fetch ${uri}: ${(err as Error).message}`);
  }
  if (!res.ok || !res.body) {
    const message = `${uri} answered ${res.status} ${res.statusText}`;
    // A client error will not go away on a retry; a server error may.
    if (res.status >= 400 && res.status < 500) throw new DataReadError(uri, `answered ${res.status} ${res.statusText}`);
    throw new Error(message);
  }
  await mkdir(settings.tmpDir, { recursive: true });
  const file = join(settings.tmpDir, `download-${randomUUID()}.${format}`);
  try {
    await pipeline(Readable.fromWeb(res.body as WebStream<Uint8Array>), createWriteStream(file));
    const { digest, bytes } = await hashFile(file);
    const table = await readTable(file, { format, ...(request.limit ? { limit: request.limit } : {}) }).catch(
      (err: unknown) => {
        throw err instanceof DataReadError ? new DataReadError(uri, err.reason, err.details) : err;
      }
    );
    return { table, source: { path: uri, bytes, sha256: digest } };
  } finally {
    await rm(file, { force: true });
  }
}
