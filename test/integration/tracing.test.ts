// OpenTelemetry traces of a training run: workers traced as `telemetry.otlpEndpoint` makes them (lib/telemetry),
// exporting to an OTLP/HTTP collector stand-in on loopback (a small receiver written here, not a real collector: it
// keeps the JSON bodies posted to /v1/traces).
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tracingOf } from '../../lib/telemetry/tracing.js';
import type { Tracing } from '../../lib/telemetry/tracing.js';
import { trainingPipeline } from '../../workflows/training-pipeline.js';
import { RUN_ACTIVITIES, useServices, withWorker } from '../helpers/temporal.js';

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  attributes: { key: string; value: { stringValue?: string } }[];
}
interface OtlpBody {
  resourceSpans: {
    resource: { attributes: { key: string; value: { stringValue?: string } }[] };
    scopeSpans: { spans: OtlpSpan[] }[];
  }[];
}

const ctx = useServices();
const { deps } = ctx;
const bodies: OtlpBody[] = [];
const collector = createServer((request, response) => {
  const chunks: Buffer[] = [];
  request.on('data', (c: Buffer) => chunks.push(c));
  request.on('end', () => {
    if (request.url === '/v1/traces' && request.method === 'POST')
      bodies.push(JSON.parse(Buffer.concat(chunks).toString()));
    response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
  });
});
let tracing: Tracing;

beforeAll(async () => {
  await new Promise<void>((resolve) => collector.listen(0, '127.0.0.1', resolve));
  const endpoint = `http://127.0.0.1:${(collector.address() as AddressInfo).port}`;
  tracing = tracingOf({ telemetry: { otlpEndpoint: endpoint } }, 'cairn-test')!;
});

afterAll(async () => {
  await tracing?.shutdown();
  collector.close();
});

describe('OpenTelemetry tracing', () => {
  it('gives one training run one trace: the workflow, and a span per stage under it', async () => {
    const workflowId = `traced-${randomUUID()}`;
    await withWorker(
      deps,
      (taskQueue) =>
        ctx.client.workflow.execute(trainingPipeline, {
          taskQueue,
          workflowId,
          args: [{ pipeline: 'penguins', model: `traced-${randomUUID().slice(0, 8)}`, config: { rounds: 5 } }],
        }),
      { plugins: [tracing.plugin] }
    );
    await tracing.shutdown();

    const spans = bodies.flatMap((b) =>
      b.resourceSpans.flatMap((r) => {
        const service = r.resource.attributes.find((a) => a.key === 'service.name')?.value.stringValue;
        return r.scopeSpans.flatMap((s) => s.spans.map((span) => ({ ...span, service })));
      })
    );
    const attribute = (span: OtlpSpan, key: string) => span.attributes.find((a) => a.key === key)?.value.stringValue;
    // Workflow spans name the workflow as `workflowId`, activity spans as `temporalWorkflowId`.
    const ofRun = spans.filter(
      (s) => (attribute(s, 'workflowId') ?? attribute(s, 'temporalWorkflowId')) === workflowId
    );
    const root = ofRun.filter((s) => s.name === 'RunWorkflow:trainingPipeline');
    expect(root).toHaveLength(1);
    const { traceId } = root[0]!;
    expect(new Set(ofRun.map((s) => s.traceId))).toEqual(new Set([traceId]));
    expect(ofRun.every((s) => s.service === 'cairn-test')).toBe(true);

    // Each stage's activity ran once, in a span of that one trace.
    const ran = spans.filter((s) => s.traceId === traceId && s.name.startsWith('RunActivity:'));
    expect(ran.map((s) => s.name.slice('RunActivity:'.length)).sort()).toEqual([...RUN_ACTIVITIES].sort());
    const ids = new Set(spans.filter((s) => s.traceId === traceId).map((s) => s.spanId));
    for (const span of ran) expect(ids.has(span.parentSpanId!), `${span.name} has its parent in the trace`).toBe(true);
  });
});
