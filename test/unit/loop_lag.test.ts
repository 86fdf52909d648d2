/**
 * LoopLag reads how late the event loop ran, not the histogram's timer
 * period: an idle loop reads near zero (Node's histogram alone reads the
 * period, 100 ms here), a loop held for 300 ms reads most of that.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { LoopLag } from '../../src/util/loop_lag.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('LoopLag', () => {
  it('reads an idle loop as (nearly) no lag and a held loop as the time it was held, less at most one period', async () => {
    const lag = new LoopLag(100);
    try {
      await sleep(450);
      // The bare histogram's max would be ≥ 100 ms here.
      assert.ok(lag.maxMs() < 60, `idle: ${lag.maxMs()} ms`);
      lag.reset();
      await sleep(150);
      const until = Date.now() + 300;
      while (Date.now() < until) { /* the loop is held */ }
      await sleep(250);
      assert.ok(lag.maxMs() >= 190, `held 300 ms: ${lag.maxMs()} ms`);
      assert.ok(lag.percentileMs(100) >= 190);
    } finally {
      lag.stop();
    }
  });
});
