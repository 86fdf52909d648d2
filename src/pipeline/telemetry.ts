/**
 * The pipeline observing itself: an OpenTelemetry MeterProvider whose readings
 * are served in Prometheus text at /metrics, with /healthz beside it.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Attributes, Meter } from '@opentelemetry/api';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { MeterProvider, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import type { ComponentStatus } from '../component/types.js';
import { parseEndpoint } from '../config/units.js';
import type { Logger } from '../util/logger.js';
import { LoopLag } from '../util/loop_lag.js';
import { listen } from '../util/net.js';

export interface MetricReading {
  name: string;
  attributes: Attributes;
  value: number;
}

/** What library users read from `pipeline.metrics`. */
export interface PipelineMetrics {
  /** Every current reading, counters as totals. */
  collect(): Promise<MetricReading[]>;
  /** Sum of one metric's readings whose attributes include `match`. */
  sum(name: string, match?: Attributes): Promise<number>;
  /** The Prometheus text /metrics serves. */
  prometheus(): Promise<string>;
}

export class SelfTelemetry implements PipelineMetrics {
  readonly meter: Meter;
  private readonly exporter = new PrometheusExporter({ preventServerStart: true });
  private readonly provider: MeterProvider;
  private readonly health = new Map<string, ComponentStatus>();
  private readonly loopLag = new LoopLag(20);
  private server?: Server;

  constructor(private readonly logger: Logger, version: string) {
    this.provider = new MeterProvider({
      resource: resourceFromAttributes({ 'service.name': 'scope-pipeline', 'service.version': version }),
      readers: [this.exporter],
    });
    this.meter = this.provider.getMeter('scope-pipeline', version);
    this.meter
      .createObservableGauge('scope_process_memory_rss_bytes', { unit: 'By', description: 'Resident set size of the pipeline process.' })
      .addCallback((r) => {
        try {
          r.observe(process.memoryUsage.rss());
        } catch {
          // EMFILE while every descriptor is taken: no sample this time rather than a thrown callback.
        }
      });
    this.meter
      .createObservableGauge('scope_process_heap_used_bytes', { unit: 'By', description: 'V8 heap in use.' })
      .addCallback((r) => r.observe(process.memoryUsage().heapUsed));
    this.meter
      .createObservableGauge('scope_process_event_loop_lag_seconds', {
        unit: 's', description: 'Event-loop delay since the previous reading: p99 and max.',
      })
      .addCallback((r) => {
        r.observe(this.loopLag.percentileMs(99) / 1e3, { quantile: '0.99' });
        r.observe(this.loopLag.maxMs() / 1e3, { quantile: '1' });
        this.loopLag.reset();
      });
  }

  setStatus(componentId: string, status: ComponentStatus): void {
    const before = this.health.get(componentId);
    this.health.set(componentId, status);
    if (!status.healthy && (before === undefined || before.healthy)) {
      this.logger.error('component unhealthy', { component: componentId, reason: status.reason });
    } else if (status.healthy && before && !before.healthy) {
      this.logger.info('component healthy again', { component: componentId });
    }
  }

  healthReport(): { healthy: boolean; unhealthy: Record<string, string> } {
    const unhealthy: Record<string, string> = {};
    for (const [id, s] of this.health) if (!s.healthy) unhealthy[id] = s.reason;
    return { healthy: Object.keys(unhealthy).length === 0, unhealthy };
  }

  async collect(): Promise<MetricReading[]> {
    const { resourceMetrics, errors } = await this.exporter.collect();
    if (errors.length > 0) this.logger.warn('self-metrics collection reported errors', { errors: errors.map(String) });
    return flatten(resourceMetrics);
  }

  async sum(name: string, match: Attributes = {}): Promise<number> {
    const readings = await this.collect();
    return readings
      .filter((r) => r.name === name && Object.entries(match).every(([k, v]) => r.attributes[k] === v))
      .reduce((acc, r) => acc + r.value, 0);
  }

  prometheus(): Promise<string> {
    return new Promise((resolve) => {
      const response = {
        statusCode: 200,
        setHeader: () => undefined,
        end: (text: string) => resolve(text),
      };
      this.exporter.getMetricsRequestHandler({} as never, response as never);
    });
  }

  /** Serves /metrics and /healthz; resolves with the bound address (port 0 picks a free one). */
  async serve(endpoint: string): Promise<AddressInfo> {
    const { host, port } = parseEndpoint(endpoint);
    const server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { allow: 'GET, HEAD' }).end();
      } else if (path === '/metrics') {
        this.exporter.getMetricsRequestHandler(req, res);
      } else if (path === '/healthz') {
        const report = this.healthReport();
        res.writeHead(report.healthy ? 200 : 503, { 'content-type': 'application/json' });
        res.end(JSON.stringify(report.healthy ? { status: 'ok' } : { status: 'unhealthy', components: report.unhealthy }));
      } else {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('try /metrics or /healthz\n');
      }
    });
    const address = await listen(server, port, host, 'service.telemetry.metrics.endpoint');
    // After listening, an accept error (EMFILE in a connection flood) is logged, never an uncaught exception.
    let warned = false;
    server.on('error', (error) => {
      if (!warned) this.logger.warn('self-telemetry server error', { error: error.message });
      warned = true;
    });
    server.maxConnections = 64;
    server.headersTimeout = 10_000;
    server.requestTimeout = 30_000;
    this.server = server;
    this.logger.info('self-telemetry listening', { metrics: `http://${host}:${address.port}/metrics`, health: `http://${host}:${address.port}/healthz` });
    return address;
  }

  async shutdown(): Promise<void> {
    this.loopLag.stop();
    const server = this.server;
    this.server = undefined;
    if (server) {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
    // The provider stays readable after shutdown so embedders can read final counts.
  }
}

function flatten(resourceMetrics: ResourceMetrics): MetricReading[] {
  const out: MetricReading[] = [];
  for (const scope of resourceMetrics.scopeMetrics) {
    for (const metric of scope.metrics) {
      for (const point of metric.dataPoints) {
        const value = typeof point.value === 'number' ? point.value : (point.value as { sum?: number }).sum ?? 0;
        out.push({ name: metric.descriptor.name, attributes: point.attributes, value });
      }
    }
  }
  return out;
}
