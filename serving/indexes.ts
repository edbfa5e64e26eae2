// `POST /v1/indexes/:name/search`: the query embedded with the index's own embedding model version, its nearest
// corpus rows, and the index version that found them.
import { z } from 'zod';
import type { ArtifactStore } from '../lib/artifacts/index.js';
import type { Table } from '../lib/data/table.js';
import type { Queryable } from '../lib/db/pool.js';
import { loadEmbedder } from '../lib/embeddings/import.js';
import type { TextEmbedder } from '../lib/embeddings/model.js';
import { resolveIndexRoute, resolveVectorIndex, VectorIndexError } from '../lib/embeddings/registry.js';
import type { IndexRoute, VectorIndexVersion } from '../lib/embeddings/registry.js';
import { IndexSearcher } from '../lib/embeddings/vector-index.js';
import type { VectorIndexManifest } from '../lib/embeddings/vector-index.js';
import { stepStore } from '../lib/pipeline/invoke.js';
import { chooseVersion, Lookups, versionChoice } from './versions.js';
import { HttpError, problemsOf } from './requests.js';

const searchBodySchema = z.strictObject({
  query: z.string().min(1).max(10_000),
  k: z.number().int().min(1).max(100).default(10),
  /** Neighbours further than this cosine distance are left out; none left is an empty result. @default 2 (all) */
  maxDistance: z.number().min(0).max(2).default(2),
  ...versionChoice,
});

export interface SearchAnswer {
  index: string;
  version: number;
  /** The index file's digest. */
  digest: string;
  alias?: string;
  /** With an alias in a canary release: whether this search got the canary or the stable version. */
  served?: 'stable' | 'canary';
  embeddingModel: { name: string; version: number };
  neighbours: { id: string; text: string; distance: number }[];
}

export type SearchOutcome = 'found' | 'empty' | 'unknown' | 'refused';

interface LoadedIndex {
  version: VectorIndexVersion;
  manifest: VectorIndexManifest;
  searcher: IndexSearcher;
  embedder: TextEmbedder;
  ids: string[];
  texts: string[];
}

const columnStrings = (table: Table, name: string): string[] => {
  const col = table.columns[name];
  if (!col) throw new VectorIndexError(`the corpus has no column ${name}`);
  if (col.type === 'string') return Array.from(col.codes, (c) => (c < 0 ? '' : col.dictionary[c]!));
  return Array.from(col.values as ArrayLike<number>, String);
};

/**
 * Searches vector indexes for the online server. An index version is loaded once (its file, its corpus's ids and
 * texts, its embedding model); aliases are resolved again after `aliasTtlMs`, so a moved alias serves its new version.
 */
export class IndexSearch {
  private readonly aliases: Lookups<IndexRoute>;
  /** Versions asked for by number, kept: a version never changes. */
  private readonly versions = new Lookups<VectorIndexVersion>(Infinity);
  /** Loaded versions (file, corpus, model) and embedding models, kept: neither changes. */
  private readonly loaded = new Lookups<LoadedIndex>(Infinity, 100);
  private readonly embedders = new Lookups<TextEmbedder>(Infinity, 100);

  constructor(
    private readonly db: Queryable,
    private readonly store: ArtifactStore,
    aliasTtlMs: number,
    /** Told of every search: the version (none for an unknown index), the outcome, its seconds and the query's vector. */
    private readonly counted: (
      index: string,
      version: number | undefined,
      outcome: SearchOutcome,
      answered?: { seconds: number; embedding: Float32Array }
    ) => void = () => undefined
  ) {
    this.aliases = new Lookups<IndexRoute>(aliasTtlMs);
  }

  async search(name: string, body: unknown, headerKey?: string | string[]): Promise<SearchAnswer> {
    const parsed = searchBodySchema.safeParse(body);
    if (!parsed.success) {
      this.counted('(unknown)', undefined, 'refused');
      throw new HttpError(400, 'the request body is not a search request: expected {"query": "..."}', {
        problems: problemsOf(parsed.error),
      });
    }
    const { query, k, maxDistance } = parsed.data;
    let index: LoadedIndex;
    let alias: string | undefined;
    let served: SearchAnswer['served'];
    try {
      let version: VectorIndexVersion;
      ({ version, alias, served } = await chooseVersion(
        parsed.data,
        headerKey,
        (number) => this.byVersion(name, number),
        (asked) => this.byAlias(name, asked)
      ));
      index = await this.load(version);
    } catch (err) {
      if (err instanceof VectorIndexError) {
        this.counted('(unknown)', undefined, 'unknown');
        throw new HttpError(404, err.message);
      }
      throw err;
    }
    // Timed from here: embedding the query and searching (a version's first search also loads it, once).
    const started = performance.now();
    const vector = await index.embedder.embed([query]);
    const neighbours = index.searcher
      .search(vector, Math.min(k, index.ids.length))
      .filter((n) => n.distance <= maxDistance)
      .map((n) => ({ id: index.ids[n.row]!, text: index.texts[n.row]!, distance: n.distance }));
    this.counted(name, index.version.version, neighbours.length ? 'found' : 'empty', {
      seconds: (performance.now() - started) / 1000,
      embedding: vector,
    });
    return {
      index: name,
      version: index.version.version,
      digest: index.version.digest,
      ...(alias === undefined ? {} : { alias }),
      ...(served ? { served } : {}),
      embeddingModel: { name: index.manifest.embeddingModel.name, version: index.manifest.embeddingModel.version },
      neighbours,
    };
  }

  private byVersion(name: string, number: number): Promise<VectorIndexVersion> {
    const key = `${name}@${number}`;
    return this.versions.get(key, () => resolveVectorIndex(this.db, key));
  }

  private byAlias(name: string, alias: string): Promise<IndexRoute> {
    return this.aliases.get(`${name}@${alias}`, () => resolveIndexRoute(this.db, name, alias));
  }

  private load(version: VectorIndexVersion): Promise<LoadedIndex> {
    return this.loaded.get(`${version.name}@${version.version}`, async () => {
      const manifest = await this.store.getJson<VectorIndexManifest>(version.manifest);
      const model = manifest.embeddingModel.manifest.digest;
      const [searcher, embedder, corpus] = await Promise.all([
        this.store
          .getBytes(manifest.index.digest)
          .then((bytes) => IndexSearcher.load(bytes, manifest.dimensions, manifest.params)),
        this.embedders.get(model, () => loadEmbedder(this.store, model).then((e) => e.embedder)),
        stepStore(this.store).getTable(manifest.corpus.table),
      ]);
      return {
        version,
        manifest,
        searcher,
        embedder,
        ids: columnStrings(corpus, manifest.corpus.id),
        texts: columnStrings(corpus, manifest.corpus.text),
      };
    });
  }
}
