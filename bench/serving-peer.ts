// The peer of the serving benchmark (bench/serving.ts): the same scoring as Cairn's predict route with nothing else.
// A bare node:http server that reads the body, JSON.parse, takes `row`, and runs the model's own scorer on it
// (`scorerFor(pkg)`: `parseRows` builds the one-row table and checks the data contract, `score` builds the feature
// matrix and predicts, `prediction` turns the raw output into class and probabilities) and answers
// `{"model": ..., "predictions": [{ label, probabilities }]}`. No framework, no token, no body schema, no prediction
// ids, no metrics, no monitoring feed, no prediction log; a malformed request is answered 400 with no detail.
// `tsx bench/serving-peer.ts <package.json>`: listens on 127.0.0.1, a free port, and sends `{ port }` over IPC.
// Over IPC it answers the benchmark's GC-pause and profile asks, as Cairn's server process in the benchmark does.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { scorerFor } from '../lib/scoring/scorer.js';
import type { ServablePackage } from '../lib/scoring/scorer.js';
import { answerGcAsks, answerProfileAsks } from './load.js';

const pkg = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as ServablePackage;
const scorer = await scorerFor(pkg);
const model = process.argv[3] ?? pkg.pipeline.name;

const server = createServer((req, res) => {
  if (req.method !== 'POST' || !req.url?.endsWith('/predict')) {
    res.writeHead(404).end();
    return;
  }
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', async () => {
    let answer: string;
    try {
      const { row } = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { row: unknown };
      const raw = await scorer.score(scorer.parseRows(row));
      answer = JSON.stringify({ model, predictions: [scorer.prediction(raw, 0)] });
    } catch {
      res.writeHead(400).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(answer);
  });
});

answerGcAsks();
answerProfileAsks();

server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  process.send?.({ port: typeof address === 'object' && address ? address.port : 0 });
});
// The benchmark stops us with SIGTERM; a benchmark that died leaves the IPC channel closed.
const stop = () => server.close(() => process.exit(0)).closeAllConnections();
process.once('SIGTERM', stop);
process.once('disconnect', stop);
