/**
 * Soak: 5 M events of random spawn/send/receive/call/exit churn through the
 * correlation state machine. The heap after 5 M is about what it was after
 * 1 M (bounded state), the state stays within its bounds, and every sent
 * message is accounted for: matched, still pending, or evicted with a count.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ScopeEvent } from '../../src/model/types.js';
import { Correlator } from '../../src/processors/correlation/correlator.js';
import { prng } from '../helpers.js';

/** Removes and returns items[i] in O(1) (order not kept). */
function takeAt<T>(items: T[], i: number): T {
  const item = items[i];
  items[i] = items[items.length - 1];
  items.pop();
  return item;
}

/** One of the last 64 items (receives come soon after their sends, not always in order). */
function takeRecent<T>(items: T[], random: () => number): T {
  return takeAt(items, items.length - 1 - Math.floor(random() * Math.min(items.length, 64)));
}

const gc = (globalThis as { gc?: () => void }).gc;

describe('correlation under churn', () => {
  it('5 M random events: flat heap, state within bounds, every send accounted for', () => {
    assert.ok(gc, 'run with --expose-gc (npm test does)');
    const evictions: Record<string, number> = {};
    let spans = 0;
    let crashes = 0;
    const bounds = { maxTrackedProcesses: 2_000, maxPendingMessages: 5_000, maxSpansPerTrace: 200, maxStackDepth: 50 };
    const c = new Correlator({
      component: 'correlation', callTimeoutMs: 30_000, crashWindowMs: 10, idleMs: 2_000, crashContextMessages: 10, ...bounds,
      onEvict: (reason, n) => { evictions[reason] = (evictions[reason] ?? 0) + n; },
      onSpan: () => { spans++; }, onCrash: () => { crashes++; },
    });
    const random = prng(20261124);
    const pick = <T>(items: T[]): T => items[Math.floor(random() * items.length)];
    let nextPid = 100;
    const live: string[] = [];
    for (let i = 0; i < 1_000; i++) live.push(`<0.${nextPid++}.0>`);
    const inFlight: Array<[string, string]> = []; // [receiver, message] sent, for receives to match
    const depth = new Map<string, number>();
    const source = { node: 'soak@host', component: 'beam_trace_port' };
    let time = 1_764_000_000_000_000_000n;
    let id = 0;
    const ev = (type: string, pid: string, attributes: ScopeEvent['attributes']): ScopeEvent => {
      time += 1_000n;
      return { id: `s${id++}`, type, schemaVersion: 1, time, source, pid, attributes };
    };

    const batch = (n: number): ScopeEvent[] => {
      const out: ScopeEvent[] = [];
      for (let i = 0; i < n; i++) {
        const r = random();
        const pid = pick(live);
        if (r < 0.08 && live.length < 3_000) {
          const child = `<0.${nextPid++}.0>`;
          live.push(child);
          out.push(ev('process.spawn', pid, { 'beam.peer_pid': child, 'beam.mfa': 'worker:init/1' }));
          if (random() < 0.5) out.push(ev('process.link', pid, { 'beam.peer_pid': child }));
        } else if (r < 0.45) {
          const to = pick(live);
          const call = random() < 0.2;
          const message = call ? `{'$gen_call',{${pid},[alias|#Ref<0.0.${id}.1>]},{get,${id % 7}}}` : `{work,${id}}`;
          const shape: ScopeEvent['attributes'] = call
            ? { 'beam.message.kind': 'call', 'beam.request': 'get', 'beam.call.tag': `[alias|#Ref<0.0.${id}.1>]`, 'beam.call.from': pid }
            : { 'beam.message.kind': 'info', 'beam.request': 'work' };
          out.push(ev('message.send', pid, { 'beam.peer_pid': to, 'beam.message': message, ...shape }));
          if (random() < 0.8) inFlight.push([to, message]);
        } else if (r < 0.75) {
          // Usually a message that was sent (matched); sometimes one from an untraced sender.
          const [to, message] = inFlight.length > 0 && random() < 0.9 ? takeRecent(inFlight, random) : [pid, `{untraced,${id}}`];
          out.push(ev('message.receive', to, { 'beam.message': message }));
        } else if (r < 0.87) {
          depth.set(pid, (depth.get(pid) ?? 0) + 1);
          out.push(ev('function.call', pid, { 'beam.mfa': `worker:step/${depth.get(pid) ?? 0 % 3}` }));
        } else if (r < 0.97) {
          const d = depth.get(pid) ?? 0;
          if (d > 0) depth.set(pid, d - 1);
          out.push(ev(random() < 0.1 ? 'function.exception' : 'function.return', pid, { 'beam.mfa': `worker:step/${d}`, 'beam.reason': 'badarg' }));
        } else if (live.length > 200 || (r >= 0.97 && live.length > 3_000)) {
          const dead = takeAt(live, Math.floor(random() * live.length));
          depth.delete(dead);
          const crashed = random() < 0.3;
          out.push(ev('process.exit', dead, crashed
            ? { 'beam.reason': `{{crash,${id % 11}},[{worker,step,1,[{file,"w.erl"},{line,9}]}]}`, 'beam.reason.class': 'error', 'beam.exception.stack': ['worker:step/1 (w.erl:9)'] }
            : { 'beam.reason': 'normal', 'beam.reason.class': 'normal' }));
        }
      }
      if (inFlight.length > 20_000) inFlight.splice(0, inFlight.length - 10_000);
      return out;
    };

    let processed = 0;
    let nowMs = 0;
    const run = (events: number): void => {
      while (processed < events) {
        const b = batch(10_000);
        processed += b.length;
        nowMs += 5;
        c.process(b, nowMs);
        if (processed % 200_000 < 10_000) c.sweep(nowMs);
      }
    };

    run(1_000_000);
    gc();
    const heapAfter1M = process.memoryUsage().heapUsed;
    run(Number(process.env.SOAK_EVENTS ?? 5_000_000));
    gc();
    const heapAfter5M = process.memoryUsage().heapUsed;
    const growthMiB = (heapAfter5M - heapAfter1M) / 2 ** 20;

    const s = c.stats();
    assert.ok(growthMiB < 16, `heap grew ${growthMiB.toFixed(1)} MiB from 1 M to 5 M events`);
    assert.ok(s.processes <= bounds.maxTrackedProcesses, `processes ${s.processes}`);
    assert.ok(s.pending <= bounds.maxPendingMessages, `pending ${s.pending}`);
    assert.ok(s.pendingOrder <= 2 * bounds.maxPendingMessages + 1024 + 10_000, `pending order ${s.pendingOrder}`);
    assert.ok(s.callTags <= bounds.maxPendingMessages && s.traces <= bounds.maxPendingMessages && s.crashes <= 10_000);
    const evictedSends = (evictions.max_pending_messages ?? 0) + (evictions.receiver_exited ?? 0);
    assert.equal(s.sendsRecorded, s.sendsMatched + evictedSends + s.pending, 'every send matched, pending, or evicted with a count');
    assert.ok((evictions.max_tracked_processes ?? 0) > 0 && (evictions.max_pending_messages ?? 0) > 0, JSON.stringify(evictions));
    assert.ok(spans > 100_000 && crashes > 1_000, `made ${spans} spans and ${crashes} crash events`);
  });
});
