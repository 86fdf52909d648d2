/**
 * memory_limiter under real memory pressure: Buffers held by the test push the
 * process's heap + external memory above the soft limit; releasing them and
 * collecting garbage brings it back. Needs --expose-gc (npm test passes it).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createPipeline, silentLogger } from '../../src/index.js';
import { measureMemory } from '../../src/processors/memory_limiter/memory_limiter.js';
import { Collector, eventBatch, until } from '../helpers.js';
import { registerComponent } from '../../src/index.js';

const MiB = 1024 * 1024;

function gc(): void {
  const collect = (globalThis as { gc?: () => void }).gc;
  assert.ok(collect, 'run with node --expose-gc');
  collect();
  collect();
}

describe('memory_limiter', () => {
  it('refuses data above the soft limit, recovers below it, and counts refusals', async () => {
    const sink = new Collector();
    registerComponent(sink.factory('memory_test_sink'));
    gc();
    const baseline = measureMemory('heap');
    const limitMib = Math.ceil(baseline / MiB) + 96; // soft limit = baseline + 64 MiB
    const pipeline = createPipeline({
      receivers: { push: {} },
      processors: { memory_limiter: { limit_mib: limitMib, spike_limit_mib: 32, check_interval: '10ms' } },
      exporters: { memory_test_sink: {} },
      service: {
        pipelines: { p: { receivers: ['push'], processors: ['memory_limiter'], exporters: ['memory_test_sink'] } },
        telemetry: { metrics: { level: 'none' } },
      },
    }, { logger: silentLogger });
    await pipeline.start();

    assert.equal((await pipeline.push(eventBatch(10))).status, 'accepted');
    let accepted = 10;

    let pressure: Buffer[] | undefined = Array.from({ length: 4 }, () => Buffer.alloc(64 * MiB, 1));
    let refused = 0;
    await until(async () => {
      const result = await pipeline.push(eventBatch(10));
      if (result.status === 'refused') {
        assert.equal(result.reason, 'memory_limit');
        assert.equal(result.retryable, true);
        refused += 10;
        return true;
      }
      accepted += 10; // pushed before the next check noticed the pressure
      return false;
    }, 5000, 'a refusal under pressure');
    // While still under pressure, every batch is refused.
    const again = await pipeline.push(eventBatch(5));
    assert.equal(again.status, 'refused');
    refused += 5;
    assert.ok(pressure.length === 4);

    pressure = undefined;
    gc();
    await until(async () => {
      const result = await pipeline.push(eventBatch(10));
      if (result.status === 'refused') refused += 10;
      else accepted += 10;
      return result.status === 'accepted';
    }, 5000, 'recovery after the pressure is released');

    await pipeline.shutdown();
    assert.equal(await pipeline.metrics.sum('scope_receiver_refused_items', { reason: 'memory_limit' }), refused);
    assert.ok(refused >= 15);
    assert.equal(sink.items, accepted, 'only the accepted batches reached the exporter');
  });
});
