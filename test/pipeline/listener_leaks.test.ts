/**
 * Issue 19 item 3: every shutdown printed `MaxListenersExceededWarning … abort
 * listeners added to [AbortSignal]` (each component and queue left a listener
 * on the shared stage deadline), and the debug exporter added an `error`
 * listener to its stream at each backpressured write. A pipeline with twelve
 * exporters, one of them debug writing to a file under backpressure, must
 * stop without a single such warning.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createPipeline, registerComponent, silentLogger } from '../../src/index.js';
import { Collector, eventBatch, tempDir } from '../helpers.js';

const sinks = Array.from({ length: 11 }, () => new Collector());
sinks.forEach((c, i) => registerComponent(c.factory(`leak_sink_${i}`)));

describe('listeners', () => {
  it('twelve exporters, a backpressured debug file and a shutdown leave no MaxListenersExceededWarning', async (t) => {
    const warnings: Error[] = [];
    const onWarning = (w: Error): void => void warnings.push(w);
    process.on('warning', onWarning);
    t.after(() => process.off('warning', onWarning));
    const out = join(tempDir(t), 'out.jsonl');
    const exporters: Record<string, unknown> = Object.fromEntries(sinks.map((_, i) => [`leak_sink_${i}`, {}]));
    exporters.debug = { path: out, format: 'json', verbosity: 'detailed', sending_queue: { queue_size: 1_000_000 } };
    const pipeline = createPipeline({
      receivers: { push: {} },
      exporters,
      service: { shutdown_timeout: '5s', telemetry: { metrics: { level: 'none' } }, pipelines: { p: { receivers: ['push'], exporters: Object.keys(exporters) } } },
    }, { logger: silentLogger });
    await pipeline.start();
    for (let i = 0; i < 40; i++) await pipeline.push(eventBatch(500));
    const result = await pipeline.shutdown();
    await new Promise((r) => setImmediate(r)); // warnings are emitted on the next tick
    assert.equal(result.drained, true);
    assert.equal(readFileSync(out, 'utf8').trim().split('\n').length, 20_000, 'the debug file has every event (it was written under backpressure)');
    assert.ok(sinks.every((s) => s.items === 20_000));
    assert.deepEqual(warnings.filter((w) => w.name === 'MaxListenersExceededWarning').map((w) => w.message), []);
  });
});

