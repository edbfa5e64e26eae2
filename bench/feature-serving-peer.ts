// The peer of the feature-serving benchmark (bench/feature-serving.ts): an online feature lookup and scoring with
// nothing else. A bare node:http server that reads the body `{"entities": {...}, "row": {...}}`, JSON.parse, merges
// the entities into the row, does one Redis MGET (same client library, @redis/client, and the same keys, `onlineKey`)
// of every feature view the package records, decodes each value (`decodeOnline`), fills the row with the values under
// the same rules as Cairn's lookup (a value is used when its event is at or before the row's time and within the
// view's TTL, else the view's defaults), and runs the model's own scorer on it (`scorerFor(pkg)`: `parseRows`, then
// `scoreNow`, or `score` for a graph scored off the thread, then `prediction`). It answers
// `{"model": ..., "predictions": [{ ...prediction, features: { <view>: { status, asOf? } } }]}`. No framework, no
// token, no body schema, no entity or time checks, no prediction ids, no metrics, no monitoring feed, no prediction
// log; a malformed request or a failed lookup is answered 400 with no detail.
// `tsx bench/feature-serving-peer.ts <package.json> [model]`, with BENCH_REDIS_URL and BENCH_PREFIX in the
// environment: listens on 127.0.0.1, a free port, and sends `{ port }` over IPC once Redis is connected.
// Both server processes of the benchmark answer `{ loop: 'start' | 'stop' }` over IPC (`answerLoopAsks`, bench/load.ts).
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { pathToFileURL } from 'node:url';
import { createClient } from '@redis/client';
import { decodeOnline, onlineKey } from '../lib/features/store/online.js';
import { scorerFor } from '../lib/scoring/scorer.js';
import type { ServablePackage } from '../lib/scoring/scorer.js';
import { answerLoopAsks } from './load.js';

type Status = { status: 'fresh' | 'stale' | 'missing'; asOf?: string };

async function serve(packagePath: string, name: string | undefined): Promise<void> {
  const pkg = JSON.parse(readFileSync(packagePath, 'utf8')) as ServablePackage;
  const scorer = await scorerFor(pkg);
  const model = name ?? pkg.pipeline.name;
  const views = pkg.featureViews ?? [];
  const prefix = process.env.BENCH_PREFIX ?? 'cairn:';
  const redis = createClient({ url: process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379' });
  redis.on('error', (err: Error) => process.stderr.write(`feature-serving peer: redis: ${err.message}\n`));
  await redis.connect();

  const predict = async (text: string): Promise<string> => {
    const body = JSON.parse(text) as { entities: Record<string, unknown>; row: Record<string, unknown> };
    const row: Record<string, unknown> = { ...body.row, ...body.entities };
    const keys = views.map((v) =>
      onlineKey(
        prefix,
        v,
        v.entities.map((c) => String(row[c]))
      )
    );
    const found = await redis.mGet(keys);
    const features: Record<string, Status> = {};
    for (let k = 0; k < views.length; k++) {
      const view = views[k]!;
      const text = found[k];
      const stored = text === null || text === undefined ? undefined : decodeOnline(String(text));
      const at = row[view.at];
      const t = at === undefined ? Date.now() : typeof at === 'number' ? at : Date.parse(String(at));
      const status = !stored || stored.time > t ? 'missing' : t - stored.time > view.ttlMs ? 'stale' : 'fresh';
      for (let f = 0; f < view.features.length; f++) {
        const feature = view.features[f]!;
        const v = status === 'fresh' ? stored!.values[f]! : NaN;
        row[feature] = Number.isNaN(v) ? (view.defaults[feature] ?? 0) : v;
      }
      features[view.name] = status === 'missing' ? { status } : { status, asOf: new Date(stored!.time).toISOString() };
    }
    const table = scorer.parseRows([row]);
    const raw = scorer.scoreNow ? scorer.scoreNow(table) : await scorer.score(table);
    return JSON.stringify({ model, predictions: [{ ...scorer.prediction(raw, 0), features }] });
  };

  const server = createServer((req, res) => {
    if (req.method !== 'POST' || !req.url?.endsWith('/predict')) {
      res.writeHead(404).end();
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      predict(Buffer.concat(chunks).toString('utf8')).then(
        (answer) => res.writeHead(200, { 'content-type': 'application/json' }).end(answer),
        () => res.writeHead(400).end()
      );
    });
  });

  answerLoopAsks();
  server.listen(0, '127.0.0.1', () => {
    const address = server.address();
    process.send?.({ port: typeof address === 'object' && address ? address.port : 0 });
  });
  // The benchmark stops us with SIGTERM; a benchmark that died leaves the IPC channel closed.
  const stop = () => {
    server.close(() => {
      redis.destroy();
      process.exit(0);
    });
    server.closeAllConnections();
  };
  process.once('SIGTERM', stop);
  process.once('disconnect', stop);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await serve(process.argv[2]!, process.argv[3]);
}
