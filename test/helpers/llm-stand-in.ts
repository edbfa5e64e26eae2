// A stand-in for an OpenAI-compatible LLM provider, on loopback, for the prompt tests: no hosted LLM is reachable
// here. The client Cairn uses against it (lib/prompts/llm.ts) is the real one a user points at their provider.
import { randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { basename, join } from 'node:path';
import { resolveSourcePath } from '../../lib/pipeline/run-config.js';

/** The API key the stand-in accepts. */
export const STAND_IN_KEY = `test-key-${randomUUID()}`;

interface Penguin {
  Species: string;
  Island: string;
  'Beak Length (mm)': number | null;
  'Body Mass (g)': number | null;
}
export const penguins = (
  JSON.parse(readFileSync(resolveSourcePath('npm:vega-datasets/data/penguins.json'), 'utf8')) as Penguin[]
)
  .filter((p) => p['Beak Length (mm)'] !== null && p['Body Mass (g)'] !== null)
  // Every 23rd penguin: all three islands.
  .filter((_, i) => i % 23 === 0);

/**
 * A stand-in for an OpenAI-compatible provider, on loopback: no hosted LLM is reachable here. It "knows" each
 * penguin's island from the question, and answers with the island's name alone when asked to, else in a sentence;
 * embeddings are hashed bags of words. It counts the calls it answers and checks the API key.
 */
export function standInProvider() {
  const calls = { chat: 0, embeddings: 0, refused: 0 };
  const islandOf = (text: string) =>
    penguins.find((p) => text.includes(`beak ${p['Beak Length (mm)']} mm long and weighs ${p['Body Mass (g)']} g`))
      ?.Island ?? 'unknown';
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      if (req.headers.authorization !== `Bearer ${STAND_IN_KEY}`) {
        calls.refused++;
        return res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":{"message":"bad key"}}');
      }
      const request = JSON.parse(body) as { messages?: { content: string }[]; input?: string };
      if (req.url === '/v1/chat/completions') {
        calls.chat++;
        const text = request.messages![0]!.content;
        const island = islandOf(text);
        const content = text.includes('island name only') ? island : `It was recorded on ${island} Island.`;
        return res
          .writeHead(200, { 'content-type': 'application/json' })
          .end(JSON.stringify({ choices: [{ index: 0, message: { role: 'assistant', content } }] }));
      }
      if (req.url === '/v1/embeddings') {
        calls.embeddings++;
        const vector = new Array<number>(32).fill(0);
        for (const word of request.input!.toLowerCase().match(/[a-z]+/g) ?? [])
          vector[[...word].reduce((h, c) => (h * 31 + c.charCodeAt(0)) % 32, 7)]! += 1;
        return res
          .writeHead(200, { 'content-type': 'application/json' })
          .end(JSON.stringify({ data: [{ index: 0, embedding: vector }] }));
      }
      res.writeHead(404).end();
    });
  });
  return { server, calls };
}

/** Starts the stand-in on a free loopback port; its base URL is what `llm.baseUrl` takes. */
export async function startStandIn(): Promise<{
  baseUrl: string;
  calls: ReturnType<typeof standInProvider>['calls'];
  close(): void;
}> {
  const provider = standInProvider();
  await new Promise<void>((resolve) => provider.server.listen(0, '127.0.0.1', resolve));
  return {
    baseUrl: `http://127.0.0.1:${(provider.server.address() as AddressInfo).port}/v1`,
    calls: provider.calls,
    close: () => provider.server.close(),
  };
}

/** The island questions as an evaluation dataset (JSON lines), written to `data`. */
export function writeIslandDataset(data: string): void {
  writeFileSync(
    data,
    penguins
      .map((p) =>
        JSON.stringify({
          variables: { species: p.Species, beak: p['Beak Length (mm)'], mass: p['Body Mass (g)'] },
          reference: p.Island,
        })
      )
      .join('\n')
  );
}

/**
 * A copy of a fixture prompt file (in `dir`) whose model name is unique to this test run: the response cache keys on
 * the prompt's content, so answers cached by an earlier run on the same database are not this run's.
 */
export function freshPrompt(fixture: string, dir: string, run: string): string {
  const content = JSON.parse(readFileSync(fixture, 'utf8')) as { model: { name: string } };
  content.model.name = `${content.model.name}-${run}`;
  const path = join(dir, `${run}-${basename(fixture)}`);
  writeFileSync(path, JSON.stringify(content));
  return path;
}
