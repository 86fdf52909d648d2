/**
 * The daemon end to end, as an SRE runs it: a child process with
 * jsonl receiver -> batch -> debug (file) exporter, 100 000 events, SIGTERM.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createWriteStream, readFileSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { join } from 'node:path';
import { eventToJson, parseJsonLine } from '../../src/index.js';
import { event, promValue, startDaemon, tempDir, until } from '../helpers.js';

const COUNT = 100_000;

describe('daemon', () => {
  it('delivers all 100 000 events from jsonl to a debug file and counts them', async (t) => {
    const dir = tempDir(t);
    const input = join(dir, 'in.jsonl');
    const output = join(dir, 'out.jsonl');
    const ids = new Set<string>();
    const stream = createWriteStream(input);
    for (let i = 0; i < COUNT; i++) {
      const e = event({ id: `ev-${i}` });
      ids.add(e.id);
      if (!stream.write(eventToJson(e) + '\n')) await once(stream, 'drain');
    }
    stream.end();
    await once(stream, 'finish');
    const config = join(dir, 'pipeline.yaml');
    writeFileSync(config, `
receivers:
  jsonl: { path: ${input} }
processors:
  batch: { send_batch_size: 5000, timeout: 100ms }
exporters:
  debug: { path: ${output}, format: json, sending_queue: { queue_size: 20000 } }
service:
  pipelines:
    replay: { receivers: [jsonl], processors: [batch], exporters: [debug] }
  telemetry:
    metrics: { endpoint: 127.0.0.1:0 }
`);
    const daemon = startDaemon(['--config', config]);
    t.after(() => daemon.child.kill('SIGKILL'));
    const base = (await daemon.metricsUrl()).replace(/\/metrics$/, '');

    let metrics = '';
    await until(async () => {
      metrics = await (await fetch(`${base}/metrics`)).text();
      return promValue(metrics, 'scope_exporter_sent_items_total', { exporter: 'debug' }) >= COUNT;
    }, 60_000, 'all items to be exported');
    assert.equal(promValue(metrics, 'scope_receiver_accepted_items_total', { receiver: 'jsonl' }), COUNT);
    assert.equal(promValue(metrics, 'scope_exporter_sent_items_total', { exporter: 'debug' }), COUNT);
    assert.equal(promValue(metrics, 'scope_receiver_refused_items_total'), 0);
    assert.equal(promValue(metrics, 'scope_exporter_send_failed_items_total'), 0);
    const health = await fetch(`${base}/healthz`);
    assert.equal(health.status, 200);

    daemon.child.kill('SIGTERM');
    const { code } = await daemon.exited();
    assert.equal(code, 0, daemon.stderr());

    const lines = readFileSync(output, 'utf8').split('\n').filter((l) => l.length > 0);
    assert.equal(lines.length, COUNT);
    const seen = new Set(lines.map((l) => {
      const item = parseJsonLine(l);
      assert.equal(item.kind, 'event');
      return item.item.id;
    }));
    assert.deepEqual([...ids].filter((id) => !seen.has(id)), []);
    assert.match(daemon.stderr(), /"msg":"pipeline stopped","drained":true/);
  });

  it('drains what the batch processor holds when SIGTERM arrives before its timeout', async (t) => {
    const dir = tempDir(t);
    const input = join(dir, 'in.jsonl');
    const output = join(dir, 'out.jsonl');
    writeFileSync(input, Array.from({ length: 7 }, (_, i) => eventToJson(event({ id: `held-${i}` }))).join('\n') + '\n');
    const config = join(dir, 'pipeline.yaml');
    writeFileSync(config, `
receivers: { jsonl: { path: ${input} } }
processors: { batch: { send_batch_size: 1000, timeout: 1h } }
exporters: { debug: { path: ${output}, format: json } }
service:
  pipelines: { p: { receivers: [jsonl], processors: [batch], exporters: [debug] } }
  telemetry: { metrics: { level: none } }
`);
    const daemon = startDaemon(['--config', config]);
    t.after(() => daemon.child.kill('SIGKILL'));
    await until(() => daemon.stderr().includes('reached end of input'), 10_000, 'the input to be read');
    assert.equal(readFileSync(output, 'utf8'), '', 'the batch processor should still hold the events');
    daemon.child.kill('SIGTERM');
    const { code } = await daemon.exited();
    assert.equal(code, 0, daemon.stderr());
    assert.equal(readFileSync(output, 'utf8').trim().split('\n').length, 7);
  });
});
