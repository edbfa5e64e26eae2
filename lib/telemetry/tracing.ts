// OpenTelemetry tracing, on when `telemetry.otlpEndpoint` is set: spans go by OTLP/HTTP (JSON) to
// <endpoint>/v1/traces in batches. Workers get Temporal's OpenTelemetry plugin (workflow, activity and client
// interceptors: a run is one trace, a span per workflow and per activity, the stages included); the online server
// gets a tracer for its requests.
import type { RequestListener } from 'node:http';
import { context, propagation, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { Tracer } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { Resource } from '@opentelemetry/resources';
import { BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { OpenTelemetryPlugin } from '@temporalio/interceptors-opentelemetry';
import type { CairnConfig } from '../config/index.js';

export interface Tracing {
  /** For Worker.create({ plugins }) (and a Client's): traces workflows and activities. */
  plugin: OpenTelemetryPlugin;
  tracer: Tracer;
  /** Sends the spans still buffered, then stops. */
  shutdown(): Promise<void>;
}

/** Tracing for one service (`cairn-worker`, `cairn-serve`…), or undefined when no OTLP endpoint is configured. */
export function tracingOf(config: Pick<CairnConfig, 'telemetry'>, service: string): Tracing | undefined {
  const endpoint = config.telemetry.otlpEndpoint;
  if (!endpoint) return undefined;
  const resource = new Resource({ 'service.name': service });
  const spanProcessor = new BatchSpanProcessor(
    new OTLPTraceExporter({ url: `${endpoint.replace(/\/+$/, '')}/v1/traces` }),
    { scheduledDelayMillis: 1000 }
  );
  const provider = new NodeTracerProvider({ resource, spanProcessors: [spanProcessor] });
  // The global provider, W3C trace-context propagation and async context: what the Temporal interceptors use.
  provider.register();
  const tracer = trace.getTracer('cairn');
  return {
    plugin: new OpenTelemetryPlugin({ resource, spanProcessor, tracer }),
    tracer,
    shutdown: () => provider.shutdown(),
  };
}

/** A request path as a route: model and index names become parameters, so spans group by what was asked. */
function routeOf(path: string): string {
  return path.replace(/^\/v1\/(models|prompts|indexes)\/[^/]+/, '/v1/$1/:name');
}

/**
 * Wraps an HTTP server's listener: a server span per request, named by method and route, child of the caller's
 * span when the request carries a W3C `traceparent`, ended when the answer is sent, with its status.
 */
export function traceRequests(tracer: Tracer, listener: RequestListener): RequestListener {
  return (req, res) => {
    const parent = propagation.extract(context.active(), req.headers);
    const path = (req.url ?? '/').split('?')[0]!;
    const span = tracer.startSpan(
      `${req.method} ${routeOf(path)}`,
      { kind: SpanKind.SERVER, attributes: { 'http.request.method': req.method ?? '', 'url.path': path } },
      parent
    );
    res.once('close', () => {
      span.setAttribute('http.response.status_code', res.statusCode);
      if (res.statusCode >= 500 || !res.writableFinished) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
    });
    context.with(trace.setSpan(parent, span), () => listener(req, res));
  };
}
