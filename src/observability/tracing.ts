import type { IncomingMessage } from 'node:http';
import {
  Attributes,
  ROOT_CONTEXT,
  Span,
  SpanKind,
  SpanStatusCode,
  trace,
  TraceFlags,
  Tracer,
} from '@opentelemetry/api';
import {
  ExportResult,
  ExportResultCode,
  parseKeyPairsIntoRecord,
  parseTraceParent,
  TraceState,
} from '@opentelemetry/core';
import { OTLPTraceExporter as JsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as ProtobufExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BatchSpanProcessor,
  ParentBasedSampler,
  RandomIdGenerator,
  ReadableSpan,
  Sampler,
  SpanExporter,
  TraceIdRatioBasedSampler,
  TracerProvider,
} from '@opentelemetry/sdk-trace';
import type { Logger } from 'pino';
import type { AppConfig } from '../config/app.config';

/** The trace context of one request: what its log lines, problems and upstream calls carry. */
export interface RequestTrace {
  readonly traceId: string;
  /** The BFF's server span (a span id of its own even when nothing is exported). */
  readonly spanId: string;
  readonly traceFlags: number;
  readonly traceState?: string;
  /** Only when spans are exported. */
  readonly span?: Span;
}

/** One upstream attempt, as its headers and its client span see it. */
export interface ClientTrace {
  readonly traceparent: string;
  readonly tracestate?: string;
  end(status: number | undefined, errorType: string | undefined): void;
}

/** What a client span says of an upstream attempt; `path` includes any base path. */
export interface ClientCall {
  readonly method: string;
  readonly server: URL;
  readonly path: string;
  readonly operation: string;
}

const TRACE = Symbol('trace');
type TracedMessage = IncomingMessage & { [TRACE]?: RequestTrace };

const ids = new RandomIdGenerator();

function traceparent(traceId: string, spanId: string, flags: number): string {
  return `00-${traceId}-${spanId}-${flags === TraceFlags.SAMPLED ? '01' : '00'}`;
}

function sampler(tracing: AppConfig['tracing']): Sampler {
  const ratio = new TraceIdRatioBasedSampler(tracing.samplerRatio);
  switch (tracing.sampler) {
    case 'always_on':
      return new AlwaysOnSampler();
    case 'always_off':
      return new AlwaysOffSampler();
    case 'traceidratio':
      return ratio;
    case 'parentbased_always_off':
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case 'parentbased_traceidratio':
      return new ParentBasedSampler({ root: ratio });
    default:
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
  }
}

/** At most one warning line per this many milliseconds about failed span exports. */
const EXPORT_WARNING_INTERVAL_MS = 60_000;

/**
 * An exporter that tells `failed` about every export that did not succeed: the SDK only reports
 * them to its diagnostic logger, which is silent by default, so a collector that is down or
 * refuses our spans would go unnoticed.
 */
class ReportingExporter implements SpanExporter {
  constructor(
    private readonly exporter: SpanExporter,
    private readonly failed: (error: Error | undefined) => void,
  ) {}

  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    this.exporter.export(spans, (result) => {
      if (result.code !== ExportResultCode.SUCCESS) this.failed(result.error);
      done(result);
    });
  }

  shutdown(): Promise<void> {
    return this.exporter.shutdown();
  }

  forceFlush(): Promise<void> {
    return this.exporter.forceFlush?.() ?? Promise.resolve();
  }
}

/**
 * W3C Trace Context always (a few string operations per request), spans only when an OTLP
 * endpoint is configured. Spans are made by hand around the request and each upstream attempt:
 * a parent is passed explicitly rather than through a context manager, so no async hook or
 * AsyncLocalStorage runs per request, and nothing else in the process is instrumented.
 */
export class Tracing {
  private readonly provider?: TracerProvider;
  private readonly tracer?: Tracer;
  /** Span exports that failed since start (the `otel_span_export_failures_total` counter). */
  exportFailures = 0;
  private lastWarning = -Infinity;

  constructor(
    config: AppConfig['tracing'],
    private readonly logger: Logger,
  ) {
    if (config.tracesUrl === undefined) return;
    const Exporter = config.protocol === 'http/json' ? JsonExporter : ProtobufExporter;
    this.provider = new TracerProvider({
      sampler: sampler(config),
      resource: resourceFromAttributes({
        ...parseKeyPairsIntoRecord(config.resourceAttributes),
        'service.name': config.serviceName,
      }),
      spanProcessors: [
        new BatchSpanProcessor({
          exporter: new ReportingExporter(new Exporter({ url: config.tracesUrl }), (error) =>
            this.exportFailed(error),
          ),
          scheduledDelayMillis: 1_000,
        }),
      ],
    });
    this.tracer = this.provider.getTracer('interventions-bff');
  }

  private exportFailed(error: Error | undefined): void {
    this.exportFailures += 1;
    const now = performance.now();
    if (now - this.lastWarning < EXPORT_WARNING_INTERVAL_MS) return;
    this.lastWarning = now;
    // The message only: an exporter error may carry the request it made, headers included.
    this.logger.warn(
      { failures: this.exportFailures, error: error?.message?.slice(0, 200) },
      'exporting spans to the OTLP endpoint failed; spans are being lost (next warning in 60 s at most)',
    );
  }

  /**
   * Continues the caller's trace (a malformed `traceparent` starts a new one, never an error)
   * and opens the server span. Called by Fastify's child-logger factory, so the ids are bound to
   * every log line of the request.
   */
  start(raw: IncomingMessage): RequestTrace {
    const parent = parseTraceParent(String(raw.headers.traceparent ?? ''));
    // Without a valid parent a tracestate means nothing (W3C Trace Context 3.3).
    const state = parent ? traceStateOf(raw.headers.tracestate) : undefined;
    let started: RequestTrace;
    if (this.tracer) {
      const parentContext = parent
        ? trace.setSpanContext(ROOT_CONTEXT, {
            ...parent,
            isRemote: true,
            traceState: state,
          })
        : ROOT_CONTEXT;
      const span = this.tracer.startSpan(
        raw.method ?? 'HTTP',
        { kind: SpanKind.SERVER },
        parentContext,
      );
      const { traceId, spanId, traceFlags } = span.spanContext();
      started = { traceId, spanId, traceFlags, traceState: state?.serialize(), span };
    } else {
      started = {
        traceId: parent?.traceId ?? ids.generateTraceId(),
        spanId: ids.generateSpanId(),
        traceFlags: parent?.traceFlags ?? TraceFlags.NONE,
        traceState: state?.serialize(),
      };
    }
    (raw as TracedMessage)[TRACE] = started;
    return started;
  }

  /** Names the server span by its route template and closes it with the request's outcome. */
  end(request: RequestTrace, route: string, status: number, attributes: Attributes): void {
    const { span } = request;
    if (!span) return;
    span.updateName(`${String(attributes['http.request.method'])} ${route}`);
    span.setAttributes({ ...attributes, 'http.route': route, 'http.response.status_code': status });
    if (status >= 500) {
      span.setAttribute('error.type', String(status));
      span.setStatus({ code: SpanStatusCode.ERROR });
    }
    span.end();
  }

  /** A client span for one upstream attempt, child of the server span, and the headers to send. */
  startClient(request: RequestTrace, call: ClientCall): ClientTrace {
    if (!this.tracer || !request.span) {
      const spanId = ids.generateSpanId();
      return {
        traceparent: traceparent(request.traceId, spanId, request.traceFlags),
        tracestate: request.traceState,
        end: () => undefined,
      };
    }
    const attributes: Attributes = {
      'http.request.method': call.method,
      'server.address': call.server.hostname,
      'server.port': Number(call.server.port) || (call.server.protocol === 'https:' ? 443 : 80),
      'url.full': call.server.origin + call.path,
      'bff.operation': call.operation,
    };
    const span = this.tracer.startSpan(
      call.method,
      { kind: SpanKind.CLIENT, attributes },
      trace.setSpan(ROOT_CONTEXT, request.span),
    );
    const { traceId, spanId, traceFlags } = span.spanContext();
    return {
      traceparent: traceparent(traceId, spanId, traceFlags),
      tracestate: request.traceState,
      end: (status, errorType) => {
        if (status !== undefined) span.setAttribute('http.response.status_code', status);
        if (errorType !== undefined) {
          span.setAttribute('error.type', errorType);
          span.setStatus({ code: SpanStatusCode.ERROR });
        }
        span.end();
      },
    };
  }

  /** Exports what is left, within `timeoutMs`; after the server has drained. */
  async shutdown(timeoutMs: number): Promise<void> {
    if (!this.provider) return;
    await Promise.race([
      this.provider.shutdown(),
      new Promise((resolve) => setTimeout(resolve, timeoutMs).unref()),
    ]);
  }
}

/** The trace of a request, set when Fastify made its logger. */
export function traceOf(raw: IncomingMessage): RequestTrace {
  return (raw as TracedMessage)[TRACE] as RequestTrace;
}

/** Only list members of a valid form are kept (W3C Trace Context 3.3); none left is none. */
function traceStateOf(header: string | string[] | undefined): TraceState | undefined {
  if (typeof header !== 'string' || header.length > 512) return undefined;
  const state = new TraceState(header);
  return state.serialize() === '' ? undefined : state;
}
