/** The datadog exporter: spans grouped by trace, PUT to the agent as dd-trace does, the agent's sampling rates read back. */
import type { ExportResult, ExporterContext } from '../../component/types.js';
import { parseDuration, parseSize } from '../../config/units.js';
import type { Batch, Span } from '../../model/types.js';
import { setAgentRates } from '../../util/agent_rates.js';
import type { DatadogExporterConfig } from './config.js';
import { toDatadog, writeSpan } from './mapping.js';
import { MsgpackWriter } from './msgpack.js';
import { StatsdClient } from './statsd.js';
import { parseEndpoint } from '../../config/units.js';

export const TRACER_VERSION = '0.1.0';

interface Payload {
  body: Buffer;
  traces: number;
  spans: number;
}

/** Whole traces, encoded one by one, packed into payloads below `max` bytes. */
export function encodePayloads(spans: Span[], max: number, options: DatadogExporterConfig): Payload[] {
  const traces = new Map<string, Span[]>();
  for (const s of spans) {
    const t = traces.get(s.traceId);
    if (t) t.push(s);
    else traces.set(s.traceId, [s]);
  }
  const payloads: Payload[] = [];
  let parts: Buffer[] = [];
  let size = 0;
  let count = 0;
  let spanCount = 0;
  const close = (): void => {
    if (count === 0) return;
    const head = new MsgpackWriter();
    head.array(count);
    payloads.push({ body: Buffer.concat([head.bytes(), ...parts]), traces: count, spans: spanCount });
    parts = [];
    size = 0;
    count = 0;
    spanCount = 0;
  };
  for (const trace of traces.values()) {
    const w = new MsgpackWriter();
    const dd = toDatadog(trace, options);
    w.array(dd.length);
    for (const s of dd) writeSpan(w, s);
    const bytes = w.bytes();
    if (count > 0 && size + bytes.length + 5 > max) close();
    parts.push(bytes);
    size += bytes.length;
    count++;
    spanCount += trace.length;
  }
  close();
  return payloads;
}

export class DatadogExporter {
  private readonly url: string;
  private readonly timeoutMs: number;
  private readonly maxBytes: number;
  /** Payloads of a batch already accepted, so a retried batch resumes after them. */
  private readonly delivered = new WeakMap<Batch, number>();
  /** The agent's answer: `service:<name>,env:<env>` → sample rate (for samplers that follow the agent). */
  ratesByService: Record<string, number> = {};
  private readonly statsd?: StatsdClient;
  /** Batches whose metrics went to DogStatsD already (a retried batch does not send them twice). */
  private readonly statsdSent = new WeakSet<Batch>();

  constructor(private readonly config: DatadogExporterConfig, private readonly ctx: ExporterContext) {
    this.url = `${config.endpoint.replace(/\/+$/, '')}/v0.4/traces`;
    this.timeoutMs = parseDuration(config.timeout);
    this.maxBytes = parseSize(config.max_payload_bytes);
    if (config.metrics) {
      const { host, port } = parseEndpoint(config.statsd_endpoint);
      this.statsd = new StatsdClient(host, port, config.max_tag_sets_per_metric);
    }
  }

  shutdown(): void {
    this.statsd?.close();
  }

  async export(batch: Batch): Promise<ExportResult> {
    let unsupported = batch.events.length + batch.metrics.length;
    if (this.statsd && !this.statsdSent.has(batch) && (batch.metrics.length > 0 || batch.events.length > 0)) {
      this.statsdSent.add(batch);
      const limitedBefore = this.statsd.limited;
      try {
        await this.statsd.send(this.statsd.lines(batch.metrics, batch.events));
      } catch (error) {
        this.ctx.problems.report('statsd', 'DogStatsD send failed', { error: (error as Error).message });
      }
      if (this.statsd.limited > limitedBefore) {
        this.ctx.problems.report('statsd_cardinality', 'metric points beyond max_tag_sets_per_metric sent with resource tags only', { limited: this.statsd.limited });
      }
      unsupported = batch.events.filter((e) => e.type !== 'anomaly.detected').length;
    }
    const dropped = unsupported > 0 ? { dropped: { count: unsupported, reason: 'unsupported_signal' } } : {};
    if (batch.spans.length === 0) return { ok: true, ...dropped };
    const payloads = encodePayloads(batch.spans, this.maxBytes, this.config);
    for (let i = this.delivered.get(batch) ?? 0; i < payloads.length; i++) {
      const result = await this.send(payloads[i]);
      if (!result.ok) return result;
      this.delivered.set(batch, i + 1);
    }
    return { ok: true, ...dropped };
  }

  private async send(payload: Payload): Promise<ExportResult> {
    let response: Response;
    try {
      response = await fetch(this.url, {
        method: 'PUT',
        body: payload.body,
        headers: {
          ...this.config.headers,
          'Content-Type': 'application/msgpack',
          'Datadog-Meta-Lang': 'elixir',
          'Datadog-Meta-Lang-Version': process.env.SCOPE_BEAM_OTP_RELEASE ?? 'unknown',
          'Datadog-Meta-Lang-Interpreter': 'beam',
          'Datadog-Meta-Tracer-Version': TRACER_VERSION,
          'X-Datadog-Trace-Count': String(payload.traces),
        },
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (error) {
      // Connection refused, reset, timeout: the agent may come back.
      return { ok: false, retryable: true, error: error instanceof Error ? error : new Error(String(error)) };
    }
    const text = await response.text().catch(() => '');
    if (response.ok) {
      try {
        const parsed = JSON.parse(text) as { rate_by_service?: Record<string, number> };
        if (parsed.rate_by_service) {
          this.ratesByService = parsed.rate_by_service;
          setAgentRates(parsed.rate_by_service);
        }
      } catch {
        // Older agents answer "OK".
      }
      return { ok: true };
    }
    const error = new Error(`Datadog agent answered ${response.status}: ${text.slice(0, 500)}`);
    if (response.status >= 500 || response.status === 408 || response.status === 429) return { ok: false, retryable: true, error };
    this.ctx.problems.report('rejected', 'the Datadog agent rejected a payload; it is dropped, not retried', { status: response.status, message: text.slice(0, 500), spans: payload.spans });
    return { ok: false, retryable: false, error };
  }
}
