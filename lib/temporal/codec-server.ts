import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Payload, PayloadCodec } from '@temporalio/common';
import { authenticate } from '../auth/tokens.js';
import type { Queryable } from '../db/pool.js';

interface JsonPayload {
  metadata?: Record<string, string>;
  data?: string;
}

const toPayload = (p: JsonPayload): Payload => ({
  metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')])),
  data: Buffer.from(p.data ?? '', 'base64'),
});
const toJson = (p: Payload): JsonPayload => ({
  metadata: Object.fromEntries(
    Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v ?? new Uint8Array()).toString('base64')])
  ),
  data: Buffer.from(p.data ?? new Uint8Array()).toString('base64'),
});

/**
 * Temporal's codec server convention: `POST /decode` and `POST /encode` with `{"payloads": [...]}` (metadata and
 * data base64), answered in kind, so the Temporal UI (Settings → Codec Server) and `temporal workflow show
 * --codec-endpoint … --codec-auth 'Bearer <token>'` show what an encrypted history holds. Each request presents a
 * live Cairn token (any role): decoding shows inputs, results and signal arguments to whoever asks, so it asks who.
 * `anonymous` drops that check, for a single-user machine only. CORS admits the Temporal UI's origins.
 */
export async function startCodecServer(options: {
  codec: PayloadCodec;
  db: Queryable;
  port: number;
  host?: string;
  origins: string[];
  anonymous?: boolean;
}): Promise<Server & { port: number }> {
  const { codec, db, origins } = options;
  const send = (request: IncomingMessage, response: ServerResponse, status: number, body?: unknown) => {
    const origin = request.headers.origin;
    if (origin && origins.includes(origin)) {
      response.setHeader('access-control-allow-origin', origin);
      response.setHeader('access-control-allow-credentials', 'true');
      response.setHeader('access-control-allow-headers', 'authorization, content-type, x-namespace');
      response.setHeader('access-control-allow-methods', 'POST, OPTIONS');
    }
    response
      .writeHead(status, { 'content-type': 'application/json' })
      .end(body === undefined ? '' : JSON.stringify(body));
  };
  const server = createServer((request, response) => {
    void (async () => {
      if (request.method === 'OPTIONS') return send(request, response, 204);
      const route = request.url?.split('?')[0] ?? '';
      const op = route.endsWith('/decode') ? 'decode' : route.endsWith('/encode') ? 'encode' : undefined;
      if (request.method !== 'POST' || !op)
        return send(request, response, 404, { error: 'routes: POST /decode, POST /encode' });
      if (!options.anonymous) {
        const token = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.authorization ?? '')?.[1];
        if (!token) return send(request, response, 401, { error: 'send Authorization: Bearer <a Cairn token>' });
        if (!(await authenticate(db, token)))
          return send(request, response, 401, { error: 'unknown, expired or revoked token' });
      }
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of request) {
        size += (chunk as Buffer).length;
        if (size > 8 << 20) return send(request, response, 413, { error: 'body over 8 MiB' });
        chunks.push(chunk as Buffer);
      }
      let body: { payloads?: JsonPayload[] };
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { payloads?: JsonPayload[] };
      } catch (err) {
        return send(request, response, 400, { error: `not JSON: ${(err as Error).message}` });
      }
      if (!Array.isArray(body.payloads)) return send(request, response, 400, { error: 'expected {"payloads": [...]}' });
      try {
        const out = await codec[op](body.payloads.map(toPayload));
        send(request, response, 200, { payloads: out.map(toJson) });
      } catch (err) {
        send(request, response, 422, { error: (err as Error).message });
      }
    })().catch(() => send(request, response, 500, { error: 'internal error' }));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '127.0.0.1', () => resolve());
  });
  return Object.assign(server, { port: (server.address() as { port: number }).port });
}
