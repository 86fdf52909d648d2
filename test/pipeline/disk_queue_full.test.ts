/**
 * The disk queue's own disk is full (a real 1 MiB tmpfs, filled to the last
 * byte): an OTLP request cannot be made durable, so it is answered 503 (the
 * client retries) and its copy is not sent; when room comes back, requests
 * are answered 200 and delivered, each once.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, openSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { createPipeline, registerComponent, silentLogger, type Pipeline } from '../../src/index.js';
import { Collector, freePort, smallDisk } from '../helpers.js';

const sink = new Collector();
registerComponent(sink.factory('dqf_sink'));

/** Fills the filesystem under `dir` to its last byte. */
function fill(path: string): void {
  const fd = openSync(path, 'w');
  const block = Buffer.alloc(64 * 1024, 1);
  try {
    for (;;) writeSync(fd, block);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
  }
  // What a 64 KiB write could not take.
  try {
    for (;;) writeSync(fd, block, 0, 512);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
  } finally {
    closeSync(fd);
  }
}

const request = (from: number, count: number): string => JSON.stringify({
  resourceSpans: [{
    scopeSpans: [{
      spans: Array.from({ length: count }, (_, k) => ({
        traceId: (from + k + 1).toString(16).padStart(32, '0'), spanId: (from + k + 1).toString(16).padStart(16, '0'),
        name: `op-${from + k}`, startTimeUnixNano: '1700000000000000000', endTimeUnixNano: '1700000000000001000',
      })),
    }],
  }],
});

describe('disk sending queue on a full disk', () => {
  it('answers 503 while an append cannot reach the disk, sends nothing of it, and takes requests again once there is room', async (t) => {
    let pipeline: Pipeline | undefined;
    const disk = smallDisk(t, '1m', async () => pipeline?.shutdown());
    const port = await freePort();
    pipeline = createPipeline({
      receivers: { otlp: { protocols: { http: { endpoint: `127.0.0.1:${port}` } } } },
      exporters: { dqf_sink: { sending_queue: { storage: 'disk', path: join(disk, 'queue') } } },
      service: { shutdown_timeout: '2s', telemetry: { metrics: { level: 'none' } }, pipelines: { p: { receivers: ['otlp'], exporters: ['dqf_sink'] } } },
    }, { logger: silentLogger });
    await pipeline.start();
    const post = (body: string): Promise<Response> => fetch(`http://127.0.0.1:${port}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });

    const before = await post(request(0, 20));
    assert.equal(before.status, 200);
    const filler = join(disk, 'filler');
    fill(filler);

    const refused = [];
    for (let i = 0; i < 3; i++) refused.push(await post(request(1000 + i * 50, 50)));
    for (const r of refused) {
      assert.equal(r.status, 503, 'an append that did not reach the disk is answered retryable');
      assert.match(await r.text(), /could not be stored in the disk sending queue \(.*ENOSPC/);
    }
    rmSync(filler);
    const after = await post(request(2000, 30));
    assert.equal(after.status, 200);

    await pipeline.shutdown();
    const names = sink.batches.flatMap((b) => b.spans.map((s) => s.name));
    assert.equal(names.length, 50, 'the 20 before and the 30 after, none of the refused 150');
    assert.equal(new Set(names).size, 50);
    assert.ok(names.every((n) => Number(n.slice(3)) < 1000 || Number(n.slice(3)) >= 2000));
  });
});
