/**
 * Optional OpenTelemetry tracing (issue #13), on when OTEL_EXPORTER_OTLP_ENDPOINT (or
 * OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set: one span per HTTP request, Temporal's client,
 * workflow and activity spans (@temporalio/interceptors-opentelemetry), all in the trace of the
 * request that caused them, exported over OTLP/HTTP (JSON). The request id is a span attribute and
 * travels as W3C baggage, through the workflow's headers, to the workflow and activity spans.
 *
 * Off, nothing of OpenTelemetry is loaded and no interceptor, middleware or span exists.
 * Spans carry ids only: every exported span passes an allow-list of attribute names, and error
 * messages (an SMTP refusal names the address) never leave; see `EXPORTED_ATTRIBUTES`.
 */
import type Koa from 'koa';
import type * as OtelApi from '@opentelemetry/api';
import type { ReadableSpan, SpanExporter, SpanProcessor, TimedEvent } from '@opentelemetry/sdk-trace-base';
import type { Resource } from '@opentelemetry/resources';
import type { WorkflowClientInterceptor } from '@temporalio/client';
import type { ActivityInterceptorsFactory, InjectedSinks } from '@temporalio/worker';
import type { OpenTelemetrySinks, SerializableSpan } from '@temporalio/interceptors-opentelemetry/lib/workflow/definitions';
import type { Config } from '../config';
import type { AppState } from '../api/middleware';
import { SPAN_ATTRIBUTES } from '../workflows/interceptors';

export type TracedService = 'api' | 'worker';

/** What one service of this process traces with (tracingFor). */
export interface Tracing {
  /** The HTTP span, around everything after the request id is known. */
  httpMiddleware(): Koa.Middleware<AppState>;
  /** For the Temporal client: its start/update/query/signal spans put the trace context into the calls' headers. */
  clientInterceptors: WorkflowClientInterceptor[];
  /** For the worker: a span around each activity, in the trace its headers name. */
  activityInterceptors: ActivityInterceptorsFactory[];
  /** For the worker: where src/workflows/interceptors.ts sends the workflow's spans. */
  workflowSinks: InjectedSinks<OpenTelemetrySinks>;
  /** Exports what is buffered now. */
  forceFlush(): Promise<void>;
}

/**
 * A worker without tracing still takes the workflow's spans and drops them, so a run started by a
 * traced API (a rollout in between) logs no "unregistered sink" error on every task.
 */
export const DISCARD_WORKFLOW_SPANS: InjectedSinks<OpenTelemetrySinks> = { exporter: { export: { fn: () => undefined } } };

/**
 * Attribute names an exported span may carry: ids, route templates, methods and statuses. Anything
 * else a library adds (a terminate reason, a future attribute with an address in it) is dropped.
 */
export const EXPORTED_ATTRIBUTES: ReadonlySet<string> = new Set([
  SPAN_ATTRIBUTES.requestId,
  SPAN_ATTRIBUTES.userId,
  SPAN_ATTRIBUTES.changeId,
  'http.request.method',
  'http.route',
  'http.response.status_code',
  // @temporalio/interceptors-opentelemetry's, and the run's ids on workflow spans
  'temporalWorkflowId',
  'run_id',
  'temporalActivityId',
  'temporalUpdateId',
  'temporalWorkflowType',
  'temporalTaskQueue',
  'exception.type',
]);

const DEFAULT_SERVICE_NAMES: Record<TracedService, string> = { api: 'email-change-api', worker: 'email-change-worker' };

/** The process's tracing per service and endpoint: one exporter each, however many apps or workers it creates. */
const started = new Map<string, { tracing: Tracing; shutdown: () => Promise<void> }>();
let contextInstalled = false;

/** The service's tracing, or undefined when tracing is off (config.observability.tracing unset). */
export function tracingFor(config: Config, service: TracedService): Tracing | undefined {
  const options = config.observability.tracing;
  if (!options) return undefined;
  const serviceName = options.serviceName ?? DEFAULT_SERVICE_NAMES[service];
  const key = `${service} ${serviceName} ${options.tracesUrl}`;
  let entry = started.get(key);
  if (!entry) {
    entry = startTracing(options.tracesUrl, serviceName, service);
    started.set(key, entry);
  }
  return entry.tracing;
}

/** Exports what is buffered and stops every exporter this process started (at shutdown). */
export async function shutdownTracing(): Promise<void> {
  const entries = [...started.values()];
  started.clear();
  await Promise.allSettled(entries.map((e) => e.shutdown()));
}

/* eslint-disable @typescript-eslint/no-require-imports -- loaded only when tracing is on */
function loadOpenTelemetry() {
  return {
    api: require('@opentelemetry/api') as typeof import('@opentelemetry/api'),
    core: require('@opentelemetry/core') as typeof import('@opentelemetry/core'),
    resources: require('@opentelemetry/resources') as typeof import('@opentelemetry/resources'),
    node: require('@opentelemetry/sdk-trace-node') as typeof import('@opentelemetry/sdk-trace-node'),
    otlp: require('@opentelemetry/exporter-trace-otlp-http') as typeof import('@opentelemetry/exporter-trace-otlp-http'),
    temporal: require('@temporalio/interceptors-opentelemetry') as typeof import('@temporalio/interceptors-opentelemetry'),
  };
}
/* eslint-enable @typescript-eslint/no-require-imports */

function startTracing(tracesUrl: string, serviceName: string, service: TracedService): { tracing: Tracing; shutdown: () => Promise<void> } {
  const otel = loadOpenTelemetry();
  const { api } = otel;
  const resource = otel.resources.Resource.default().merge(new otel.resources.Resource({ 'service.name': serviceName }));
  const batch = new otel.node.BatchSpanProcessor(idsOnly(new otel.otlp.OTLPTraceExporter({ url: tracesUrl })));
  const provider = new otel.node.NodeTracerProvider({ resource, spanProcessors: [requestIdFromBaggage(api), batch] });
  if (!contextInstalled) {
    // Process-wide: the async context the interceptors read, and W3C trace context + baggage
    // whatever OTEL_PROPAGATORS says (the workflow sandbox speaks exactly these two).
    provider.register({ propagator: new otel.core.CompositePropagator({ propagators: [new otel.core.W3CTraceContextPropagator(), new otel.core.W3CBaggagePropagator()] }) });
    contextInstalled = true;
  }
  const tracer = provider.getTracer(`email-change-${service}`);
  const traceContext = new otel.core.W3CTraceContextPropagator();
  const { OpenTelemetryActivityInboundInterceptor, OpenTelemetryActivityOutboundInterceptor, OpenTelemetryWorkflowClientInterceptor } = otel.temporal;

  const tracing: Tracing = {
    httpMiddleware: () => async (ctx, next) => {
      // Only the W3C trace context of the caller: a client's baggage never reaches Temporal's headers.
      const incoming = traceContext.extract(api.ROOT_CONTEXT, ctx.headers, api.defaultTextMapGetter);
      const parent = api.propagation.setBaggage(incoming, api.propagation.createBaggage({ [SPAN_ATTRIBUTES.requestId]: { value: ctx.state.requestId } }));
      const span = tracer.startSpan(ctx.method, { kind: api.SpanKind.SERVER, attributes: { 'http.request.method': ctx.method, [SPAN_ATTRIBUTES.requestId]: ctx.state.requestId } }, parent);
      try {
        await api.context.with(api.trace.setSpan(parent, span), next);
      } finally {
        const matched = (ctx as { _matchedRoute?: unknown })._matchedRoute;
        const route = typeof matched === 'string' ? matched : '(unmatched)';
        span.updateName(`${ctx.method} ${route}`);
        span.setAttributes({ 'http.route': route, 'http.response.status_code': ctx.status });
        if (ctx.state.user) span.setAttribute(SPAN_ATTRIBUTES.userId, ctx.state.user.id);
        if (ctx.status >= 500) span.setStatus({ code: api.SpanStatusCode.ERROR });
        span.end();
      }
    },
    clientInterceptors: [new OpenTelemetryWorkflowClientInterceptor({ tracer })],
    activityInterceptors: [
      (ctx) => ({ inbound: new OpenTelemetryActivityInboundInterceptor(ctx, { tracer }), outbound: new OpenTelemetryActivityOutboundInterceptor(ctx) }),
      // Inside the activity's span: its change id (the input's other fields hold addresses).
      () => ({
        inbound: {
          execute(input, next) {
            const arg = input.args[0] as { changeId?: unknown; input?: { changeId?: unknown } } | undefined;
            const changeId = arg?.changeId ?? arg?.input?.changeId; // sendVerificationMail carries the run's input
            if (typeof changeId === 'string') api.trace.getActiveSpan()?.setAttribute(SPAN_ATTRIBUTES.changeId, changeId);
            return next(input);
          },
        },
      }),
    ],
    workflowSinks: {
      exporter: {
        export: {
          fn: (info, spans) => {
            for (const span of spans) {
              batch.onEnd(workflowSpan(api, span, resource, { temporalWorkflowId: info.workflowId, run_id: info.runId, temporalWorkflowType: info.workflowType, temporalTaskQueue: info.taskQueue }));
            }
          },
        },
      },
    },
    forceFlush: () => provider.forceFlush(),
  };
  return { tracing, shutdown: () => provider.shutdown() };
}

/** Copies the request id from the baggage a span starts under (an HTTP span's, a Temporal header's) onto the span. */
function requestIdFromBaggage(api: typeof OtelApi): SpanProcessor {
  return {
    onStart(span, parentContext) {
      const requestId = api.propagation.getBaggage(parentContext)?.getEntry(SPAN_ATTRIBUTES.requestId)?.value;
      if (requestId) span.setAttribute(SPAN_ATTRIBUTES.requestId, requestId);
    },
    onEnd: () => undefined,
    forceFlush: () => Promise.resolve(),
    shutdown: () => Promise.resolve(),
  };
}

/**
 * A span from the workflow sandbox as the exporter reads it, with the run's ids (only those: the
 * SDK's own sink would copy the whole workflow info, memo and search attributes included).
 */
function workflowSpan(api: typeof OtelApi, serialized: SerializableSpan, resource: Resource, ids: Record<string, string>): ReadableSpan {
  const { spanContext: { traceState, ...spanContext }, ...fields } = serialized;
  const context = { ...spanContext, traceState: traceState ? api.createTraceState(traceState) : undefined };
  return { ...fields, attributes: { ...fields.attributes, ...ids }, resource, spanContext: () => context };
}

/** Wraps an exporter so that only allow-listed attributes leave, and no error message or event text. */
function idsOnly(exporter: SpanExporter): SpanExporter {
  const pick = (attributes: OtelApi.Attributes = {}) => Object.fromEntries(Object.entries(attributes).filter(([name]) => EXPORTED_ATTRIBUTES.has(name)));
  const redact = (span: ReadableSpan): ReadableSpan =>
    Object.create(span, {
      attributes: { value: pick(span.attributes) },
      // Error messages and stack traces stay in the logs: an SMTP refusal quotes the address.
      status: { value: { code: span.status.code } },
      events: { value: span.events.map((e): TimedEvent => ({ name: e.name, time: e.time, attributes: pick(e.attributes) })) },
      links: { value: span.links.map((l) => ({ context: l.context })) },
    }) as ReadableSpan;
  return {
    export: (spans, done) => exporter.export(spans.map(redact), done),
    shutdown: () => exporter.shutdown(),
    forceFlush: () => exporter.forceFlush?.() ?? Promise.resolve(),
  };
}
