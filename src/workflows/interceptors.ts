/**
 * The workflow side of tracing (src/observability/tracing.ts), bundled with the workflows
 * (bundleWorkflows() in src/worker.ts). A run is traced only when its start carried a trace context,
 * i.e. a traced API started it: the decision is in the run's history, so a replay takes the same
 * path, and runs started without tracing (every run recorded before it) are untouched. OpenTelemetry
 * is loaded only for a traced run: every run evaluates its own modules, and an untraced one must
 * not pay for them. Spans leave the sandbox through the `exporter` sink the worker registers.
 */
import type { WorkflowInboundCallsInterceptor, WorkflowInterceptors, WorkflowInternalsInterceptor, WorkflowOutboundCallsInterceptor } from '@temporalio/workflow';
import type * as OtelApi from '@opentelemetry/api';
import type * as OtelWorkflow from '@temporalio/interceptors-opentelemetry/lib/workflow';

/** The header @temporalio/interceptors-opentelemetry carries the W3C trace context and baggage in. */
export const TRACE_HEADER = '_tracer-data';

/** Span attributes of ours (ids only); the request id also travels as baggage under its name. */
export const SPAN_ATTRIBUTES = { requestId: 'request.id', userId: 'user.id', changeId: 'email_change.change_id' } as const;

interface Tracing {
  api: typeof OtelApi;
  inbound: OtelWorkflow.OpenTelemetryInboundInterceptor;
  outbound: OtelWorkflow.OpenTelemetryOutboundInterceptor;
  internals: OtelWorkflow.OpenTelemetryInternalsInterceptor;
}

function loadTracing(): Tracing {
  /* eslint-disable no-restricted-globals, @typescript-eslint/no-require-imports -- bundled by webpack like any import, but evaluated only for a traced run */
  const otel = require('@temporalio/interceptors-opentelemetry/lib/workflow') as typeof OtelWorkflow;
  const api = require('@opentelemetry/api') as typeof OtelApi;
  /* eslint-enable no-restricted-globals, @typescript-eslint/no-require-imports */
  return { api, inbound: new otel.OpenTelemetryInboundInterceptor(), outbound: new otel.OpenTelemetryOutboundInterceptor(), internals: new otel.OpenTelemetryInternalsInterceptor() };
}

/** Puts the request id (from the baggage of the active context) and `ids` on the active span. */
function tag({ api }: Tracing, ids: Record<string, unknown> = {}): void {
  const span = api.trace.getActiveSpan();
  if (!span) return;
  const requestId = api.propagation.getBaggage(api.context.active())?.getEntry(SPAN_ATTRIBUTES.requestId)?.value;
  if (requestId) span.setAttribute(SPAN_ATTRIBUTES.requestId, requestId);
  if (typeof ids.changeId === 'string') span.setAttribute(SPAN_ATTRIBUTES.changeId, ids.changeId);
  if (typeof ids.userId === 'string') span.setAttribute(SPAN_ATTRIBUTES.userId, ids.userId);
}

/** `next`, tagging the span the OpenTelemetry interceptor around it made active. */
function tagged<I, O>(t: Tracing, next: (input: I) => O, ids?: (input: I) => Record<string, unknown> | undefined): (input: I) => O {
  return (input) => {
    tag(t, ids?.(input));
    return next(input);
  };
}

export function interceptors(): WorkflowInterceptors {
  const run: { tracing?: Tracing } = {}; // one per run: the factory is called for each

  const inbound: WorkflowInboundCallsInterceptor = {
    execute(input, next) {
      if (!(TRACE_HEADER in input.headers)) return next(input);
      const t = (run.tracing = loadTracing());
      // Only the input's ids: it also holds the addresses.
      return t.inbound.execute(input, tagged(t, next, (i) => i.args[0] as Record<string, unknown> | undefined));
    },
    handleSignal: (input, next) => (run.tracing ? run.tracing.inbound.handleSignal(input, tagged(run.tracing, next)) : next(input)),
    handleUpdate: (input, next) => (run.tracing ? run.tracing.inbound.handleUpdate(input, tagged(run.tracing, next)) : next(input)),
    validateUpdate: (input, next) => (run.tracing ? run.tracing.inbound.validateUpdate(input, tagged(run.tracing, next)) : next(input)),
    handleQuery: (input, next) => (run.tracing ? run.tracing.inbound.handleQuery(input, tagged(run.tracing, next)) : next(input)),
  };

  const outbound: WorkflowOutboundCallsInterceptor = {
    scheduleActivity: (input, next) => (run.tracing ? run.tracing.outbound.scheduleActivity(input, tagged(run.tracing, next)) : next(input)),
    scheduleLocalActivity: (input, next) => (run.tracing ? run.tracing.outbound.scheduleLocalActivity(input, tagged(run.tracing, next)) : next(input)),
    startChildWorkflowExecution: (input, next) => (run.tracing ? run.tracing.outbound.startChildWorkflowExecution(input, next) : next(input)),
    signalWorkflow: (input, next) => (run.tracing ? run.tracing.outbound.signalWorkflow(input, next) : next(input)),
    continueAsNew: (input, next) => (run.tracing ? run.tracing.outbound.continueAsNew(input, next) : next(input)),
    getLogAttributes: (input, next) => (run.tracing ? run.tracing.outbound.getLogAttributes(input, next) : next(input)),
  };

  const internals: WorkflowInternalsInterceptor = {
    dispose: (input, next) => (run.tracing ? run.tracing.internals.dispose(input, next) : next(input)),
  };

  return { inbound: [inbound], outbound: [outbound], internals: [internals] };
}
