import type { ArtifactStore } from '../lib/artifacts/index.js';
import { decodeTable } from '../lib/data/index.js';
import type { Table } from '../lib/data/table.js';

// validate and transform often run on the same worker right after ingest: keep the last decoded snapshot.
let cached: { digest: string; table: Table } | undefined;

/** The dataset snapshot `digest` as a table, read (and verified) from the store. */
export async function loadDataset(store: ArtifactStore, digest: string, dataDigest: string): Promise<Table> {
  if (cached?.digest === digest) return cached.table;
  const table = decodeTable(await store.getBytes(dataDigest));
  cached = { digest, table };
  return table;
}
