import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { afterAll, describe, expect, it } from 'vitest';
import { traceRequests } from '../../../lib/telemetry/tracing.js';

const exporter = new InMemorySpanExporter();
const provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
provider.register();
const server = createServer(
  traceRequests(provider.getTracer('test'), (req, res) => {
    res.statusCode = req.url?.startsWith('/broken') ? 500 : 200;
    res.end('{}');
  })
);
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

afterAll(async () => {
  server.close();
  await provider.shutdown();
});

describe('traceRequests', () => {
  it("makes a server span per request, named by route, child of the caller's traceparent", async () => {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const parent = '00f067aa0ba902b7';
    const response = await fetch(`${base}/v1/models/flight-delays/predict?x=1`, {
      method: 'POST',
      headers: { traceparent: `00-${traceId}-${parent}-01` },
      body: '{}',
    });
    expect(response.status).toBe(200);
    await expect.poll(() => exporter.getFinishedSpans().length).toBe(1);
    const [span] = exporter.getFinishedSpans();
    expect(span!.name).toBe('POST /v1/models/:name/predict');
    expect(span!.kind).toBe(SpanKind.SERVER);
    expect(span!.spanContext().traceId).toBe(traceId);
    expect(span!.parentSpanId).toBe(parent);
    expect(span!.attributes).toMatchObject({
      'url.path': '/v1/models/flight-delays/predict',
      'http.response.status_code': 200,
    });
    expect(span!.status.code).toBe(SpanStatusCode.UNSET);
  });

  it('starts a trace of its own without a traceparent, and marks a 5xx answer as an error', async () => {
    exporter.reset();
    expect((await fetch(`${base}/broken`)).status).toBe(500);
    await expect.poll(() => exporter.getFinishedSpans().length).toBe(1);
    const [span] = exporter.getFinishedSpans();
    expect(span!.name).toBe('GET /broken');
    expect(span!.parentSpanId).toBeUndefined();
    expect(span!.status.code).toBe(SpanStatusCode.ERROR);
  });
});
