/**
 * The disk sending queue: its segment log (recovery of torn and corrupt
 * tails, release, rotation), replay through a real pipeline after a
 * shutdown that could not deliver, acknowledgments that wait for the disk,
 * and the config rule that keeps them honest.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, openSync, readdirSync, readFileSync, statSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { createPipeline, registerComponent, ScopeError, silentLogger } from '../../src/index.js';
import { SegmentLog } from '../../src/pipeline/disk_queue/segment_log.js';
import { Collector, eventBatch, tempDir } from '../helpers.js';

const logOptions = (dir: string, segmentBytes = 1 << 20) => ({ dir, segmentBytes, fsync: 'always' as const, fsyncIntervalMs: 1000, maxRecordBytes: 1 << 20 });
const payload = (i: number): Buffer => Buffer.from(`record-${i}-${'x'.repeat(i % 50)}`);

async function appendAll(log: SegmentLog, from: number, to: number): Promise<number[]> {
  const appended = [];
  for (let i = from; i < to; i++) appended.push(log.append(payload(i)));
  await Promise.all(appended.map((a) => a.durable));
  return appended.map((a) => a.seq);
}

describe('disk queue segment log', () => {
  it('reads back every record after a reopen, forgets released ones, and deletes whole released segments', async (t) => {
    const dir = tempDir(t);
    const log = new SegmentLog(logOptions(dir, 4096));
    assert.deepEqual(log.open().seqs, []);
    // Appends of one event-loop turn share a write (and a segment): ten turns.
    const seqs: number[] = [];
    for (let round = 0; round < 10; round++) seqs.push(...await appendAll(log, round * 50, round * 50 + 50));
    assert.deepEqual(seqs, Array.from({ length: 500 }, (_, i) => i + 1));
    const segments = readdirSync(dir).filter((n) => n.endsWith('.seg')).length;
    assert.ok(segments >= 4, `${segments} segments at 4 KiB each`);
    log.release(300);
    assert.ok(readdirSync(dir).filter((n) => n.endsWith('.seg')).length < segments, 'released segments are deleted');
    await log.close();

    const again = new SegmentLog(logOptions(dir, 4096));
    const recovered = again.open();
    assert.equal(recovered.released, 300);
    assert.deepEqual(recovered.seqs, Array.from({ length: 200 }, (_, i) => i + 301));
    for (const seq of recovered.seqs) assert.deepEqual(again.read(seq), payload(seq - 1));
    // New records go after the old ones.
    assert.deepEqual(await appendAll(again, 500, 502), [501, 502]);
    await again.close();
  });

  it('cuts a torn last record (a write the kill interrupted) and a corrupt one, keeps everything before, and appends after', async (t) => {
    const dir = tempDir(t);
    const log = new SegmentLog(logOptions(dir));
    log.open();
    await appendAll(log, 0, 10);
    await log.close();
    const [segment] = readdirSync(dir).filter((n) => n.endsWith('.seg'));
    const path = join(dir, segment);
    const whole = statSync(path).size;
    // Half a header and half a record: what a kill -9 during writev leaves.
    appendFileSync(path, Buffer.from([40, 0, 0, 0, 1, 2, 3, 4, 11, 0, 0, 0, 0, 0, 0, 0, 97, 98]));

    const torn = new SegmentLog(logOptions(dir));
    const recovered = torn.open();
    assert.deepEqual(recovered.seqs, Array.from({ length: 10 }, (_, i) => i + 1));
    assert.equal(recovered.truncatedBytes, 18);
    assert.equal(statSync(path).size, whole);
    assert.deepEqual(await appendAll(torn, 10, 11), [11]);
    await torn.close();

    // A flipped byte inside record 5: it and what follows in the segment fail their CRC and are cut.
    const bytes = readFileSync(path);
    let at = 0;
    for (let i = 0; i < 4; i++) at += 16 + bytes.readUInt32LE(at);
    const fd = openSync(path, 'r+');
    writeSync(fd, Buffer.from([bytes[at + 17] ^ 0xff]), 0, 1, at + 17);
    closeSync(fd);
    const corrupt = new SegmentLog(logOptions(dir));
    const after = corrupt.open();
    assert.deepEqual(after.seqs, [1, 2, 3, 4]);
    assert.ok(after.truncatedBytes > 0);
    await corrupt.close();
  });
});

const held = new Collector();
const sink = new Collector();
registerComponent(held.factory('dq_held'));
registerComponent(sink.factory('dq_sink'));

const queueConfig = (dir: string, exporter: string, processors: string[] = []) => ({
  receivers: { push: {} },
  processors: { batch: {} },
  exporters: { [exporter]: { sending_queue: { storage: 'disk', path: dir }, retry_on_failure: { initial_interval: '10ms', max_interval: '10ms' } } },
  service: { shutdown_timeout: '600ms', telemetry: { metrics: { level: 'none' } }, pipelines: { p: { receivers: ['push'], processors, exporters: [exporter] } } },
});

describe('disk sending queue in a pipeline', () => {
  it('acknowledges only once the batch is on disk, keeps what shutdown could not deliver, and replays it after a restart, once', async (t) => {
    const dir = tempDir(t);
    held.failWith = { retryable: true, message: 'backend down' };
    const first = createPipeline(queueConfig(dir, 'dq_held'), { logger: silentLogger });
    await first.start();
    const results = [];
    for (let i = 0; i < 5; i++) results.push(await first.push(eventBatch(20)));
    for (const r of results) {
      assert.equal(r.status, 'accepted');
      assert.ok(r.status === 'accepted' && r.durable, 'a disk queue gives the receiver a promise to answer after');
      assert.equal(await r.durable, undefined);
    }
    const stopped = await first.shutdown();
    assert.equal(stopped.drained, true, 'what stays in the disk queue is not lost');
    assert.equal(held.items, 0);

    held.failWith = undefined;
    const second = createPipeline(queueConfig(dir, 'dq_held'), { logger: silentLogger });
    await second.start();
    await second.shutdown();
    assert.equal(held.items, 100, 'the five batches were replayed');
    const ids = held.events.map((e) => e.id);
    assert.equal(new Set(ids).size, 100);

    const third = createPipeline(queueConfig(dir, 'dq_held'), { logger: silentLogger });
    await third.start();
    await third.shutdown();
    assert.equal(held.items, 100, 'delivered entries are released and never replayed');
  });

  it('refuses a pipeline where a processor holding items sits in front of a disk queue', () => {
    assert.throws(
      () => createPipeline(queueConfig('/nonexistent', 'dq_sink', ['batch']), { logger: silentLogger }),
      (error: unknown) => error instanceof ScopeError && error.code === 'CONFIG_INVALID'
        && /processors\[0\]: processor "batch" holds items in memory, so the disk sending queue of dq_sink would acknowledge them before they are durable/.test(error.message),
    );
  });

  it('a second process (or pipeline) cannot use the same queue directory', async (t) => {
    const dir = tempDir(t);
    const one = createPipeline(queueConfig(dir, 'dq_sink'), { logger: silentLogger });
    await one.start();
    const two = createPipeline(queueConfig(dir, 'dq_sink'), { logger: silentLogger });
    await assert.rejects(two.start(), /the disk queue .* is used by process \d+/);
    await one.shutdown();
  });
});
