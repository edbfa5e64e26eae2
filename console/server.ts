// The console's server (`cairn ui`): a JSON API over PostgreSQL under /api, and the front end Vite built from
// console/web (built here first when it is missing or older than its sources). Pages are client-side routes: any
// other GET answers index.html, so a link such as /runs/<id> from a notification opens its page.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { extname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Client } from '@temporalio/client';
import Fastify from 'fastify';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { Pool } from '../lib/db/pool.js';
import type { Logger } from '../lib/logging/logger.js';
import { decideRelease } from '../lib/release/decide.js';
import { createConsoleApi } from './api.js';
import type { ConsoleLinks } from './api.js';

export const WEB_ROOT = fileURLToPath(new URL('./web/', import.meta.url));
export const DIST = join(WEB_ROOT, 'dist');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.json': 'application/json',
};

/** The newest modification time under a folder (dist and node_modules excluded). */
function newest(dir: string): number {
  let latest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'dist' || entry.name === 'node_modules') continue;
    const path = join(dir, entry.name);
    latest = Math.max(latest, entry.isDirectory() ? newest(path) : statSync(path).mtimeMs);
  }
  return latest;
}

/** The static report's page, built on its own: one script and one stylesheet, inlined by console/report.ts. */
export const REPORT_PAGE = join(DIST, 'report', 'report.html');

/** Builds the console (dist/) and the static report's page (dist/report/) with Vite. */
export async function buildConsole(): Promise<void> {
  const { build } = await import('vite');
  const common = { root: WEB_ROOT, configFile: join(WEB_ROOT, 'vite.config.ts'), logLevel: 'warn' as const };
  await build(common);
  await build({
    ...common,
    build: {
      outDir: join(DIST, 'report'),
      rollupOptions: { input: join(WEB_ROOT, 'report.html') },
      cssCodeSplit: false,
      modulePreload: false,
    },
  });
}

/** Builds the front end when console/web/dist is missing or older than its sources. */
export async function ensureBuilt(logger?: Logger): Promise<void> {
  const built = [join(DIST, 'index.html'), REPORT_PAGE];
  const sources = newest(WEB_ROOT);
  if (built.every((file) => existsSync(file) && statSync(file).mtimeMs >= sources)) return;
  logger?.info({ root: WEB_ROOT }, 'building the console with Vite');
  await buildConsole();
}

const runFilter = z.object({
  pipeline: z.string().min(1).optional(),
  status: z.enum(['running', 'succeeded', 'failed', 'cancelled']).optional(),
  trigger: z.string().min(1).optional(),
  model: z.string().min(1).optional(),
  limit: z.coerce.number().int().min(1).max(5000).default(200),
});

export interface ConsoleOptions {
  db: Pool;
  logger: Logger;
  links: ConsoleLinks;
  host: string;
  port: number;
  /** For approvals and rejections from the releases page; without one, they answer 503. */
  client?: Client;
}

const decision = z.strictObject({
  decision: z.enum(['approve', 'reject']),
  token: z.string().trim().optional(),
  comment: z.string().trim().max(1000).optional(),
});

export async function startConsole(options: ConsoleOptions): Promise<{ app: FastifyInstance; url: string }> {
  const api = createConsoleApi(options.db, options.links, options.client);
  const app = Fastify({ logger: false });
  const notFound = (what: string) => ({ error: `${what} not found` });

  app.get('/api/runs', async (request, reply) => {
    const filter = runFilter.safeParse(request.query);
    if (!filter.success) return reply.code(400).send({ error: z.prettifyError(filter.error) });
    return api.runs(filter.data);
  });
  app.get<{ Params: { id: string } }>('/api/runs/:id', async (request, reply) => {
    const run = await api.run(request.params.id);
    return run ?? reply.code(404).send(notFound(`run ${request.params.id}`));
  });
  app.get('/api/models', () => api.models());
  app.get<{ Params: { name: string } }>('/api/models/:name', async (request, reply) => {
    const model = await api.model(request.params.name);
    return model ?? reply.code(404).send(notFound(`model ${request.params.name}`));
  });
  app.get('/api/datasets', () => api.datasets());
  app.get<{ Params: { digest: string } }>('/api/datasets/:digest', async (request, reply) => {
    const dataset = await api.dataset(request.params.digest);
    return dataset ?? reply.code(404).send(notFound(`dataset ${request.params.digest}`));
  });
  app.get('/api/monitoring', () => api.monitors());
  app.get<{ Params: { model: string; environment: string }; Querystring: { report?: string } }>(
    '/api/monitoring/:model/:environment',
    async (request, reply) => {
      const { model, environment } = request.params;
      const report = request.query.report === undefined ? undefined : Number(request.query.report);
      if (report !== undefined && !Number.isSafeInteger(report))
        return reply.code(400).send({ error: `report must be a report id, got ${request.query.report}` });
      const found = await api.monitoring(model, environment, report);
      return found ?? reply.code(404).send(notFound(`monitoring reports of ${model} in ${environment}`));
    }
  );
  app.get('/api/releases', () => api.releases());
  app.get<{ Params: { id: string } }>('/api/releases/:id/steps', async (request, reply) => {
    if (!(await api.releaseModel(request.params.id)))
      return reply.code(404).send(notFound(`release ${request.params.id}`));
    const steps = await api.canarySteps(request.params.id);
    return steps ? { steps } : reply.code(503).send({ error: 'the console has no Temporal connection' });
  });
  // The approval form: the same `decide` update as `cairn approve`, with the token the form was given.
  app.post<{ Params: { id: string } }>('/api/releases/:id/decide', async (request, reply) => {
    const body = decision.safeParse(request.body);
    if (!body.success) return reply.code(400).send({ error: z.prettifyError(body.error) });
    const { id } = request.params;
    const model = await api.releaseModel(id);
    if (!model) return reply.code(404).send(notFound(`release ${id}`));
    const { token, comment } = body.data;
    if (!token) return reply.code(401).send({ error: `a token with the role approver:${model} is required` });
    if (!options.client) return reply.code(503).send({ error: 'the console has no Temporal connection' });
    const outcome = await decideRelease(options.client, id, {
      decision: body.data.decision,
      token,
      ...(comment ? { comment } : {}),
    });
    if (outcome.ok) return outcome.result;
    return reply.code(outcome.refused ? 403 : 409).send({ error: outcome.message });
  });
  app.all('/api/*', (_request, reply) => reply.code(404).send(notFound('API route')));

  // The built front end: its files, and index.html for every page route.
  app.get('/*', async (request, reply) => {
    const path = decodeURIComponent(request.url.split('?')[0]!);
    const file = resolve(DIST, `.${path}`);
    const inside = relative(DIST, file);
    const asset = !inside.startsWith('..') && !inside.includes(`..${sep}`) && extname(file) !== '';
    const target = asset && existsSync(file) ? file : join(DIST, 'index.html');
    return reply
      .type(TYPES[extname(target)] ?? 'application/octet-stream')
      .header(
        'cache-control',
        target.includes(`${sep}assets${sep}`) ? 'public, max-age=31536000, immutable' : 'no-cache'
      )
      .send(await readFile(target));
  });

  const url = await app.listen({ host: options.host, port: options.port });
  return { app, url };
}
