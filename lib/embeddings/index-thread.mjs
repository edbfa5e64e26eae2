// The vector index's CPU work, in a worker thread so the activity's event loop keeps heartbeating (usearch's calls
// are synchronous). Plain JavaScript: it needs nothing of Cairn's. lib/embeddings/vector-index.ts is its caller.
import { readFileSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import usearch from 'usearch';

const { Index, MetricKind, ScalarKind, exactSearch } = usearch;

const open = ({ dimensions, params }) =>
  new Index({
    dimensions,
    metric: MetricKind.Cos,
    quantization: ScalarKind.F32,
    connectivity: params.connectivity,
    expansion_add: params.expansionAdd,
    expansion_search: params.expansionSearch,
    multi: false,
  });

const keysOf = (n) => BigUint64Array.from({ length: n }, (_, i) => BigInt(i));

/** One thread and keys in corpus order: the same vectors and parameters give the same bytes. */
function build({ vectors, dimensions, params, path }) {
  const index = open({ dimensions, params });
  const rows = vectors.length / dimensions;
  index.add(keysOf(rows), vectors, 1);
  index.save(path);
  return { size: index.size() };
}

const quantile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];

/** recall@k of the index against exact search on the queries, and the latency of one query at a time. */
function evaluate({ vectors, queries, dimensions, params, path, k }) {
  const index = open({ dimensions, params });
  index.load(path);
  const n = queries.length / dimensions;
  const truth = exactSearch(vectors, queries, dimensions, k, MetricKind.Cos, 1);
  let found = 0;
  const latencies = [];
  for (let q = 0; q < n; q++) {
    const query = queries.subarray(q * dimensions, (q + 1) * dimensions);
    const started = performance.now();
    const result = index.search(query, k, 1);
    latencies.push(performance.now() - started);
    const exact = new Set(Array.from(truth.keys.subarray(q * k, (q + 1) * k), String));
    for (const key of result.keys) if (exact.has(String(key))) found++;
  }
  latencies.sort((a, b) => a - b);
  return {
    recall: found / (n * k),
    p50Ms: quantile(latencies, 0.5),
    p99Ms: quantile(latencies, 0.99),
    bytes: readFileSync(path).length,
  };
}

try {
  const ops = { build, evaluate };
  parentPort.postMessage({ ok: true, result: ops[workerData.op](workerData) });
} catch (err) {
  parentPort.postMessage({ ok: false, message: err instanceof Error ? err.message : String(err) });
}
