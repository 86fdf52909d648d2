/** The correlation processor's self-metrics in a pipeline: spans by origin and evictions by reason, counted per batch. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createPipeline, registerComponent, silentLogger, type ScopeEvent } from '../../src/index.js';
import { Collector, until } from '../helpers.js';

const sink = new Collector();
registerComponent(sink.factory('correlation_metrics_sink'));

const T0 = 1_764_000_000_000_000_000n;
let seq = 0;
function ev(type: string, pid: string, atUs: number, attributes: ScopeEvent['attributes']): ScopeEvent {
  return { id: `c${++seq}`, type, schemaVersion: 1, time: T0 + BigInt(atUs) * 1000n, source: { node: 'shop@host', component: 'test' }, pid, attributes };
}

describe('correlation processor in a pipeline', () => {
  it('counts every span it made, by origin, and every trace it had to continue in a new one', async () => {
    const pipeline = createPipeline({
      receivers: { push: {} },
      processors: { correlation: { max_spans_per_trace: 10 } },
      exporters: { correlation_metrics_sink: {} },
      service: { pipelines: { p: { receivers: ['push'], processors: ['correlation'], exporters: ['correlation_metrics_sink'] } }, telemetry: { metrics: { level: 'none' } } },
    }, { logger: silentLogger });
    await pipeline.start();
    try {
      // One process making 25 traced calls in one handling, in two batches: 26 spans. Past the 10th the calls
      // go on in a continuation trace under a stand-in for the handling, linked to it; past that trace's
      // 10th, in another: 2 stand-ins, not a one-span trace per call.
      const events: ScopeEvent[] = [ev('message.receive', '<0.90.0>', 0, { 'beam.message': 'go', 'beam.message.kind': 'info' })];
      for (let i = 0; i < 25; i++) {
        events.push(ev('function.call', '<0.90.0>', 10 + 2 * i, { 'beam.mfa': 'shop:step/1' }));
        events.push(ev('function.return', '<0.90.0>', 11 + 2 * i, { 'beam.mfa': 'shop:step/1', 'beam.return': 'ok' }));
      }
      events.push(ev('process.exit', '<0.90.0>', 100, { 'beam.reason': 'normal' }));
      for (const batch of [events.slice(0, 20), events.slice(20)]) {
        assert.equal((await pipeline.push({ events: batch, spans: [], metrics: [] })).status, 'accepted');
      }
      await until(() => sink.batches.flatMap((b) => b.spans).length >= 28, 5_000, 'the 28 spans');
      const spans = sink.batches.flatMap((b) => b.spans);
      assert.equal(spans.length, 28);
      assert.equal(await pipeline.metrics.sum('scope_correlation_spans', { origin: 'function' }), 25);
      assert.equal(await pipeline.metrics.sum('scope_correlation_spans', { origin: 'message' }), 1);
      assert.equal(await pipeline.metrics.sum('scope_correlation_spans', { origin: 'continuation' }), 2);
      const continued = spans.filter((s) => s.links.some((l) => l.attributes['scope.link.reason'] === 'continues_trace'));
      assert.equal(continued.length, 2);
      const handling = spans.find((s) => s.parentSpanId === undefined && s.links.length === 0);
      assert.ok(continued.every((s) => s.attributes['scope.span.continuation'] === true && s.name === handling?.name && s.links[0].spanId === handling.spanId), 'stand-ins for the handling, linked to it');
      assert.deepEqual([...new Set(spans.map((s) => s.traceId))].map((t) => spans.filter((s) => s.traceId === t).length), [10, 10, 8], 'three traces, each within the bound');
      assert.equal(await pipeline.metrics.sum('scope_correlation_evictions', { reason: 'max_spans_per_trace' }), continued.length);
    } finally {
      await pipeline.shutdown();
    }
  });
});
