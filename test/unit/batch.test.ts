import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { Subject } from 'rxjs';
import { batching, splitBatch, type BatchingOptions } from '../../src/processors/batch/batch.js';
import { batchSize, type Batch, type MetricPoint, type ScopeEvent, type Span } from '../../src/model/types.js';

let seq = 0;
const ev = (): ScopeEvent => ({ id: `e${++seq}`, type: 'custom.x', schemaVersion: 1, time: BigInt(seq), source: { node: 'n', component: 'c' }, attributes: {} });
const sp = (): Span => ({
  traceId: '5b8efff798038103d269b633813fc60c', spanId: 'eee19b7ec3c1b174', name: `s${++seq}`, spanKind: 'internal',
  startTimeUnixNano: 1n, endTimeUnixNano: 2n, attributes: {}, events: [], links: [], status: { code: 'unset' }, resource: {},
});
const mp = (): MetricPoint => ({ name: `m${++seq}`, type: 'gauge', timeUnixNano: 1n, value: seq, attributes: {}, resource: {} });

function batch(events: number, spans = 0, metrics = 0): Batch {
  return { events: Array.from({ length: events }, ev), spans: Array.from({ length: spans }, sp), metrics: Array.from({ length: metrics }, mp) };
}

/** Every item of a list of batches, in order (events, spans, metrics within each batch). */
const itemsOf = (batches: Batch[]): unknown[] => batches.flatMap((b) => [...b.events, ...b.spans, ...b.metrics]);

/** A Subject piped through batching, with its emissions collected. */
function harness(options: BatchingOptions) {
  const input = new Subject<Batch>();
  const out: Batch[] = [];
  let completed = false;
  let failed: unknown;
  const subscription = input.pipe(batching(options)).subscribe({
    next: (b) => out.push(b),
    complete: () => (completed = true),
    error: (e: unknown) => (failed = e),
  });
  return {
    input,
    out,
    sizes: () => out.map(batchSize),
    get completed() { return completed; },
    get failed() { return failed; },
    subscription,
  };
}

describe('splitBatch', () => {
  const cases: Array<[string, [number, number, number], number, [number, number, number], [number, number, number]]> = [
    ['inside events', [5, 2, 1], 3, [3, 0, 0], [2, 2, 1]],
    ['at the end of events', [5, 2, 1], 5, [5, 0, 0], [0, 2, 1]],
    ['into spans', [5, 2, 1], 6, [5, 1, 0], [0, 1, 1]],
    ['into metrics', [1, 1, 3], 4, [1, 1, 2], [0, 0, 1]],
    ['nothing', [2, 2, 2], 0, [0, 0, 0], [2, 2, 2]],
    ['everything', [2, 2, 2], 6, [2, 2, 2], [0, 0, 0]],
    ['more than everything', [2, 2, 2], 100, [2, 2, 2], [0, 0, 0]],
  ];
  for (const [name, [e, s, m], count, head, tail] of cases) {
    it(`splits ${name}`, () => {
      const input = batch(e, s, m);
      const before = itemsOf([input]);
      const [h, t] = splitBatch(input, count);
      assert.deepEqual([h.events.length, h.spans.length, h.metrics.length], head);
      assert.deepEqual([t.events.length, t.spans.length, t.metrics.length], tail);
      assert.deepEqual(itemsOf([h, t]), before, 'same items, same order');
      assert.deepEqual(itemsOf([input]), before, 'input untouched');
    });
  }
});

describe('batching operator', () => {
  it('sends once send_batch_size items are pending', () => {
    const h = harness({ sendBatchSize: 10, maxBatchSize: 0, timeoutMs: 60_000 });
    h.input.next(batch(4));
    h.input.next(batch(0, 3));
    assert.deepEqual(h.sizes(), [], 'below the size: held');
    h.input.next(batch(0, 0, 3));
    assert.deepEqual(h.sizes(), [10]);
    assert.deepEqual([h.out[0].events.length, h.out[0].spans.length, h.out[0].metrics.length], [4, 3, 3]);
    h.input.next(batch(9));
    assert.deepEqual(h.sizes(), [10], 'the next batch starts over');
    h.subscription.unsubscribe();
  });

  it('passes a batch that is big enough on its own unchanged', () => {
    const h = harness({ sendBatchSize: 5, maxBatchSize: 0, timeoutMs: 60_000 });
    const big = batch(7);
    h.input.next(big);
    assert.equal(h.out.length, 1);
    assert.deepEqual(h.out[0], big);
    h.subscription.unsubscribe();
  });

  it('sends what is pending when the timeout expires', async () => {
    const h = harness({ sendBatchSize: 1000, maxBatchSize: 0, timeoutMs: 20 });
    h.input.next(batch(3));
    h.input.next(batch(2));
    assert.deepEqual(h.sizes(), []);
    await sleep(80);
    assert.deepEqual(h.sizes(), [5]);
    // A new timer starts with the next item.
    h.input.next(batch(1));
    assert.deepEqual(h.sizes(), [5]);
    await sleep(80);
    assert.deepEqual(h.sizes(), [5, 1]);
    assert.equal(h.completed, false);
    h.subscription.unsubscribe();
  });

  it('times out from the first pending item, not the last', async () => {
    const h = harness({ sendBatchSize: 1000, maxBatchSize: 0, timeoutMs: 150 });
    h.input.next(batch(1));
    await sleep(50);
    h.input.next(batch(1));
    await sleep(130); // 180 ms after the first item, 130 after the second
    assert.deepEqual(h.sizes(), [2]);
    h.subscription.unsubscribe();
  });

  it('flushes what is pending when its input completes, then completes', () => {
    const h = harness({ sendBatchSize: 100, maxBatchSize: 0, timeoutMs: 60_000 });
    h.input.next(batch(3, 1));
    h.input.next(batch(2));
    assert.deepEqual(h.sizes(), []);
    h.input.complete();
    assert.deepEqual(h.sizes(), [6]);
    assert.equal(h.completed, true);
  });

  it('flushes what is pending before passing an error on', () => {
    const h = harness({ sendBatchSize: 100, maxBatchSize: 0, timeoutMs: 60_000 });
    h.input.next(batch(3));
    const boom = new Error('boom');
    h.input.error(boom);
    assert.deepEqual(h.sizes(), [3]);
    assert.equal(h.failed, boom);
  });

  it('completes without emitting when nothing is pending', () => {
    const h = harness({ sendBatchSize: 10, maxBatchSize: 0, timeoutMs: 60_000 });
    h.input.next(batch(0));
    h.input.complete();
    assert.deepEqual(h.sizes(), []);
    assert.equal(h.completed, true);
  });

  it('splits batches larger than send_batch_max_size', () => {
    const h = harness({ sendBatchSize: 10, maxBatchSize: 10, timeoutMs: 60_000 });
    const big = batch(15, 10, 2);
    h.input.next(big);
    assert.deepEqual(h.sizes(), [10, 10, 7]);
    assert.deepEqual(itemsOf(h.out), itemsOf([big]), 'same items in the same order');
    h.subscription.unsubscribe();
  });

  it('splits merged batches by send_batch_max_size', () => {
    const h = harness({ sendBatchSize: 8, maxBatchSize: 10, timeoutMs: 60_000 });
    h.input.next(batch(6));
    h.input.next(batch(7)); // 13 pending >= 8: sent as 10 + 3
    assert.deepEqual(h.sizes(), [10, 3]);
    h.subscription.unsubscribe();
  });

  it('with timeout 0 passes every batch on as it comes, still split by max size', () => {
    const h = harness({ sendBatchSize: 100, maxBatchSize: 4, timeoutMs: 0 });
    const first = batch(2);
    h.input.next(first);
    assert.equal(h.out.length, 1);
    assert.equal(h.out[0], first, 'the same batch object');
    h.input.next(batch(0, 3));
    h.input.next(batch(9));
    assert.deepEqual(h.sizes(), [2, 3, 4, 4, 1]);
    h.input.complete();
    assert.equal(h.completed, true);
  });

  it('sends every item exactly once, in order per signal, across triggers', async () => {
    const h = harness({ sendBatchSize: 16, maxBatchSize: 20, timeoutMs: 15 });
    const sent: Batch[] = [];
    const sizes = [1, 5, 30, 0, 7, 3, 16, 2, 45, 1, 1, 9];
    for (const [i, n] of sizes.entries()) {
      const b = batch(n % 3 === 0 ? n : n - 1, n % 3 === 0 ? 0 : 1, 0);
      sent.push(b);
      h.input.next(b);
      if (i === 5) await sleep(40); // let one timeout fire midway
    }
    h.input.complete();
    // Merging groups items by signal, so order is kept per signal.
    for (const key of ['events', 'spans', 'metrics'] as const) {
      assert.deepEqual(h.out.flatMap((b) => b[key] as unknown[]), sent.flatMap((b) => b[key] as unknown[]), key);
    }
    assert.equal(h.sizes().reduce((a, b) => a + b, 0), sent.reduce((a, b) => a + batchSize(b), 0));
    assert.ok(h.sizes().every((n) => n > 0 && n <= 20), `sizes ${h.sizes().join(',')}`);
  });

  it('does not modify the batches it is given', () => {
    const h = harness({ sendBatchSize: 10, maxBatchSize: 3, timeoutMs: 60_000 });
    const a = batch(2, 1);
    const b = batch(4);
    Object.freeze(a.events); Object.freeze(a.spans); Object.freeze(a.metrics);
    Object.freeze(b.events); Object.freeze(b.spans); Object.freeze(b.metrics);
    h.input.next(a);
    h.input.next(b);
    h.input.complete();
    assert.equal(a.events.length + a.spans.length, 3);
    assert.equal(b.events.length, 4);
    assert.deepEqual(h.sizes(), [3, 3, 1]);
  });

  it('stops its timer when unsubscribed', async () => {
    const h = harness({ sendBatchSize: 100, maxBatchSize: 0, timeoutMs: 10 });
    h.input.next(batch(2));
    h.subscription.unsubscribe();
    await sleep(40);
    assert.deepEqual(h.sizes(), []);
  });
});
