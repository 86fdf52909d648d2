/** The sampling processor in a pipeline: held traces released by its timer, drops counted by reason in the self-metrics. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createPipeline, registerComponent, silentLogger, type Span } from '../../src/index.js';
import { Collector, until } from '../helpers.js';

const sink = new Collector();
registerComponent(sink.factory('sampling_sink'));

function span(traceId: string, error = false): Span {
  return {
    traceId, spanId: traceId.slice(0, 16), name: 'GET /users/:id', spanKind: 'server',
    startTimeUnixNano: 1_764_000_000_000_000_000n, endTimeUnixNano: 1_764_000_000_010_000_000n,
    attributes: {}, events: [], links: [], status: { code: error ? 'error' : 'unset' }, resource: { 'service.name': 'shop' },
  };
}

describe('sampling processor in a pipeline', () => {
  it('releases decided traces on its own and counts what it sampled out', async () => {
    const pipeline = createPipeline({
      receivers: { push: {} },
      processors: { sampling: { sampling_percentage: 0, tail: { decision_wait: '200ms' } } },
      exporters: { sampling_sink: {} },
      service: { pipelines: { p: { receivers: ['push'], processors: ['sampling'], exporters: ['sampling_sink'] } }, telemetry: { metrics: { level: 'none' } } },
    }, { logger: silentLogger });
    await pipeline.start();
    const before = sink.batches.length;
    const ids = Array.from({ length: 20 }, (_, i) => (i + 1).toString(16).padStart(32, 'a'));
    assert.equal((await pipeline.push({ events: [], spans: ids.map((id, i) => span(id, i === 3)), metrics: [] })).status, 'accepted');
    await until(() => sink.batches.slice(before).some((b) => b.spans.length > 0), 5_000, 'the error trace after decision_wait');
    const spans = sink.batches.slice(before).flatMap((b) => b.spans);
    assert.deepEqual(spans.map((s) => s.traceId), [ids[3]]);
    assert.equal(await pipeline.metrics.sum('scope_processor_dropped_items', { reason: 'tail_not_sampled' }), 19);
    assert.equal(await pipeline.metrics.sum('scope_sampling_decisions', { decision: 'sampled:always_keep' }), 1);
    await pipeline.shutdown();
  });
});
