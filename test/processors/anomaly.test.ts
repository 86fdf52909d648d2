/**
 * The anomaly processor's persisted baselines (persist_path) in a pipeline: a file written before the
 * robust baseline (version 1, test/processors/fixtures/anomaly-baselines-v1.json, saved by the processor at
 * a058879 from 400 spans of `shop GET /` around 10 ms) still loads and scores at once; an unreadable one
 * is refused with a log line and the baselines are learned from zero; shutdown writes the file again.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createPipeline, registerComponent, type LogFields, type Logger, type Span } from '../../src/index.js';
import { Collector, ROOT, tempDir, until } from '../helpers.js';

const FIXTURE = join(ROOT, 'test/processors/fixtures/anomaly-baselines-v1.json');
const sink = new Collector();
registerComponent(sink.factory('anomaly_persist_sink'));

function recordingLogger(lines: Array<{ level: string; message: string; fields?: LogFields }>): Logger {
  const logger: Logger = {
    debug: (message, fields) => lines.push({ level: 'debug', message, fields }),
    info: (message, fields) => lines.push({ level: 'info', message, fields }),
    warn: (message, fields) => lines.push({ level: 'warn', message, fields }),
    error: (message, fields) => lines.push({ level: 'error', message, fields }),
    child: () => logger,
  };
  return logger;
}

let n = 0;
function span(micros: number): Span {
  const start = 1_764_000_400_000_000_000n + BigInt(++n) * 1_000_000n;
  return {
    traceId: n.toString(16).padStart(32, 'f'), spanId: n.toString(16).padStart(16, 'f'), name: 'GET /', spanKind: 'server',
    startTimeUnixNano: start, endTimeUnixNano: start + BigInt(micros * 1000),
    attributes: {}, events: [], links: [], status: { code: 'unset' }, resource: { 'service.name': 'shop' },
  };
}

async function run(path: string, micros: number): Promise<{ lines: Array<{ level: string; message: string; fields?: LogFields }>; scored: Span }> {
  const lines: Array<{ level: string; message: string; fields?: LogFields }> = [];
  const pipeline = createPipeline({
    receivers: { push: {} },
    processors: { anomaly: { persist_path: path } },
    exporters: { anomaly_persist_sink: {} },
    service: { pipelines: { p: { receivers: ['push'], processors: ['anomaly'], exporters: ['anomaly_persist_sink'] } }, telemetry: { metrics: { level: 'none' } } },
  }, { logger: recordingLogger(lines) });
  await pipeline.start();
  const before = sink.batches.length;
  const probe = span(micros);
  assert.equal((await pipeline.push({ events: [], spans: [probe], metrics: [] })).status, 'accepted');
  await until(() => sink.batches.slice(before).some((b) => b.spans.some((s) => s.spanId === probe.spanId)), 5_000, 'the probe span');
  const scored = sink.batches.slice(before).flatMap((b) => b.spans).find((s) => s.spanId === probe.spanId) as Span;
  await pipeline.shutdown();
  return { lines, scored };
}

describe('anomaly processor: persisted baselines', () => {
  it('a version-1 file written before the robust baseline loads: a span 100× the median is scored at once against the robust p99; shutdown writes it back', async (t) => {
    const path = join(tempDir(t), 'baselines.json');
    copyFileSync(FIXTURE, path);
    const { lines, scored } = await run(path, 1_000_000);
    const restored = lines.find((l) => l.message === 'anomaly baselines restored');
    assert.equal(restored?.fields?.keys, 1, JSON.stringify(lines));
    assert.equal(lines.filter((l) => l.level === 'warn').length, 0, JSON.stringify(lines));
    const score = scored.attributes['scope.anomaly.score'] as number;
    assert.ok(score > 0.97 && score < 1, `score ${score}`);
    // The fixture's spans: 10 ms, σ 0.2 of log duration, so the robust p99 is about 10 × e^(0.2 × 2.326) ≈ 16 ms.
    const expected = Number(/^p99=(\d+\.\d{3})ms$/.exec(String(scored.attributes['scope.anomaly.expected']))?.[1]);
    assert.ok(expected > 13 && expected < 20, `expected ${scored.attributes['scope.anomaly.expected']}`);
    const written = JSON.parse(readFileSync(path, 'utf8')) as { version: number; latency: Array<{ key: string }> };
    assert.equal(written.version, 1);
    assert.deepEqual(written.latency.map((k) => k.key), ['shop GET /']);
  });

  it('a file it cannot read (another version, or not JSON) is refused with a log line; baselines are learned from zero', async (t) => {
    for (const content of ['{"version":2,"latency":[]}', 'not json']) {
      const path = join(tempDir(t), 'baselines.json');
      writeFileSync(path, content);
      const { lines, scored } = await run(path, 1_000_000);
      const refused = lines.find((l) => l.level === 'warn' && l.message === 'anomaly baselines not restored; learning from zero');
      assert.ok(refused, JSON.stringify(lines));
      assert.equal(refused.fields?.path, path);
      if (content.startsWith('{')) assert.match(String(refused.fields?.error), /version 1/);
      assert.equal(scored.attributes['scope.anomaly.score'], undefined, 'no baseline: no score before min_samples');
    }
  });
});
