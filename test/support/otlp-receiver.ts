import { createServer, Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One span as OTLP/JSON carries it, attributes flattened to plain values. */
export interface ReceivedSpan {
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId?: string;
  readonly name: string;
  readonly kind: number;
  readonly attributes: Record<string, unknown>;
  readonly serviceName: unknown;
}

interface OtlpValue {
  stringValue?: string;
  intValue?: string | number;
  boolValue?: boolean;
  doubleValue?: number;
}
interface OtlpAttribute {
  key: string;
  value: OtlpValue;
}
interface OtlpExport {
  resourceSpans: {
    resource: { attributes: OtlpAttribute[] };
    scopeSpans: {
      spans: (Omit<ReceivedSpan, 'attributes' | 'serviceName'> & { attributes: OtlpAttribute[] })[];
    }[];
  }[];
}

export const SPAN_KIND = { SERVER: 2, CLIENT: 3 } as const;

function plain(value: OtlpValue): unknown {
  if (value.intValue !== undefined) return Number(value.intValue);
  return value.stringValue ?? value.boolValue ?? value.doubleValue;
}

function attributesOf(list: OtlpAttribute[]): Record<string, unknown> {
  return Object.fromEntries(list.map(({ key, value }) => [key, plain(value)]));
}

/**
 * A real OTLP/HTTP traces endpoint on a free loopback port: it keeps every export's raw bytes
 * and content type, and decodes the JSON ones.
 */
export class OtlpReceiver {
  readonly exports: { contentType: string; body: Buffer }[] = [];
  private readonly server: Server;

  constructor() {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        if (req.url === '/v1/traces' && req.method === 'POST') {
          this.exports.push({
            contentType: String(req.headers['content-type']),
            body: Buffer.concat(chunks),
          });
        }
        res.writeHead(200, { 'Content-Type': 'application/json' }).end('{}');
      });
    });
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return this;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  spans(): ReceivedSpan[] {
    return this.exports
      .filter((sent) => sent.contentType.startsWith('application/json'))
      .flatMap((sent) => (JSON.parse(sent.body.toString('utf8')) as OtlpExport).resourceSpans)
      .flatMap(({ resource, scopeSpans }) =>
        scopeSpans.flatMap(({ spans }) =>
          spans.map((span) => ({
            ...span,
            attributes: attributesOf(span.attributes),
            serviceName: attributesOf(resource.attributes)['service.name'],
          })),
        ),
      );
  }

  /** Waits until `count` spans of `traceId` arrived (the exporter batches for a second). */
  async spansOf(traceId: string, count: number, timeoutMs = 5_000): Promise<ReceivedSpan[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.spans().filter((span) => span.traceId === traceId);
      if (found.length >= count || Date.now() > deadline) return found;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  reset(): void {
    this.exports.length = 0;
  }

  stop(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
