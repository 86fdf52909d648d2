/** The jsonl receiver on real files, a growing file, and stdin. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { appendFileSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createPipeline, eventToJson, registerComponent, silentLogger, spanToJson, type Span } from '../../src/index.js';
import { CLI, Collector, event, tempDir, until } from '../helpers.js';

const sink = new Collector();
registerComponent(sink.factory('jsonl_sink'));

function span(): Span {
  return {
    traceId: '5b8efff798038103d269b633813fc60c', spanId: 'eee19b7ec3c1b174', name: 'GET /users/:id', spanKind: 'server',
    startTimeUnixNano: 1764000000000000000n, endTimeUnixNano: 1764000000001000000n,
    attributes: { 'http.route': '/users/:id' }, events: [], links: [], status: { code: 'ok' }, resource: { 'service.name': 'shop' },
  };
}

function pipelineFor(config: Record<string, unknown>) {
  return createPipeline({
    receivers: { jsonl: config },
    exporters: { jsonl_sink: {} },
    service: { pipelines: { p: { receivers: ['jsonl'], exporters: ['jsonl_sink'] } }, telemetry: { metrics: { level: 'none' } } },
  }, { logger: silentLogger });
}

describe('jsonl receiver', () => {
  it('skips and counts malformed, too long and invalid lines, and keeps every good one', async (t) => {
    const path = join(tempDir(t), 'in.jsonl');
    writeFileSync(path, [
      eventToJson(event({ id: 'good-1' })),
      '{"kind":"event", broken',
      '',
      spanToJson(span()),
      JSON.stringify({ kind: 'thing' }),
      eventToJson(event({ id: 'bad-schema', type: 'function.call', attributes: {} })),
      `{"kind":"event","pad":"${'x'.repeat(600)}"}`,
      eventToJson(event({ id: 'good-2' })),
    ].join('\n') + '\r\n' + eventToJson(event({ id: 'no-newline-at-end' })));
    const before = sink.items;
    const beforeEvents = sink.events.length;
    const pipeline = pipelineFor({ path, max_line_bytes: 512 });
    await pipeline.start();
    await until(() => sink.items - before === 4, 5000, 'the good lines');
    await pipeline.shutdown();
    assert.deepEqual(sink.events.slice(beforeEvents).map((e) => e.id), ['good-1', 'good-2', 'no-newline-at-end']);
    assert.equal(sink.batches.at(-1)?.spans.length ?? sink.batches.flatMap((b) => b.spans).length, 1);
    assert.equal(await pipeline.metrics.sum('scope_receiver_refused_items', { reason: 'malformed' }), 2);
    assert.equal(await pipeline.metrics.sum('scope_receiver_refused_items', { reason: 'line_too_long' }), 1);
    assert.equal(await pipeline.metrics.sum('scope_receiver_refused_items', { reason: 'invalid_event' }), 1);
    assert.equal(await pipeline.metrics.sum('scope_receiver_accepted_items'), 4);
  });

  it('rebase_time replays a capture as if it began at the start: every time moves by one amount, offsets kept', async (t) => {
    const path = join(tempDir(t), 'in.jsonl');
    const withEvent: Span = { ...span(), events: [{ name: 'exception', timeUnixNano: 1764000000000500000n, attributes: {} }] };
    writeFileSync(path, [
      eventToJson(event({ id: 'rebase-1', time: 1764000000000000000n })),
      spanToJson(withEvent),
      eventToJson(event({ id: 'rebase-2', time: 1764000002000000000n })),
    ].join('\n') + '\n');
    const from = sink.batches.length;
    const startedNs = BigInt(Date.now()) * 1_000_000n;
    const pipeline = pipelineFor({ path, rebase_time: true });
    await pipeline.start();
    await until(() => sink.batches.slice(from).reduce((n, b) => n + b.events.length + b.spans.length, 0) === 3, 5000, 'the capture');
    await pipeline.shutdown();
    const events = sink.batches.slice(from).flatMap((b) => b.events);
    const [s] = sink.batches.slice(from).flatMap((b) => b.spans);
    const shift = events[0].time - 1764000000000000000n;
    assert.ok(events[0].time >= startedNs && events[0].time <= BigInt(Date.now()) * 1_000_000n, 'the first item is now');
    assert.deepEqual(
      [events[1].time - events[0].time, s.startTimeUnixNano - shift, s.endTimeUnixNano - shift, s.events[0].timeUnixNano - shift],
      [2_000_000_000n, 1764000000000000000n, 1764000000001000000n, 1764000000000500000n],
    );
  });

  it('fails to start with a clear error when the file is missing', async (t) => {
    const pipeline = pipelineFor({ path: join(tempDir(t), 'missing.jsonl') });
    await assert.rejects(pipeline.start(), /receiver jsonl failed to start: .*ENOENT/);
  });

  it('follows a growing file, waits for it to appear, and rereads it after truncation', async (t) => {
    const path = join(tempDir(t), 'live.jsonl');
    const before = sink.events.length;
    const pipeline = pipelineFor({ path, follow: true, poll_interval: '20ms' });
    await pipeline.start();
    await new Promise((r) => setTimeout(r, 60));
    writeFileSync(path, eventToJson(event({ id: 'f1' })) + '\n' + eventToJson(event({ id: 'f2' })).slice(0, 40));
    await until(() => sink.events.length - before === 1, 5000, 'the first line');
    appendFileSync(path, eventToJson(event({ id: 'f2' })).slice(40) + '\n');
    await until(() => sink.events.length - before === 2, 5000, 'the completed second line');
    truncateSync(path, 0);
    await new Promise((r) => setTimeout(r, 80));
    appendFileSync(path, eventToJson(event({ id: 'f3' })) + '\n');
    await until(() => sink.events.length - before === 3, 5000, 'the line after truncation');
    await pipeline.shutdown();
    assert.deepEqual(sink.events.slice(before).map((e) => e.id), ['f1', 'f2', 'f3']);
  });

  it('reads standard input with path "-" (through the daemon)', async (t) => {
    const dir = tempDir(t);
    const out = join(dir, 'out.jsonl');
    const config = join(dir, 'p.yaml');
    writeFileSync(config, `
receivers: { jsonl: { path: "-" } }
exporters: { debug: { path: ${out}, format: json } }
service:
  pipelines: { p: { receivers: [jsonl], exporters: [debug] } }
  telemetry: { metrics: { level: none } }
`);
    const child = spawn(process.execPath, [CLI, '--config', config], { stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdin.end([1, 2, 3].map((i) => eventToJson(event({ id: `stdin-${i}` }))).join('\n') + '\n');
    await until(() => stderr.includes('reached end of input'), 10_000, 'end of stdin');
    child.kill('SIGTERM');
    const code = await new Promise((r) => child.on('exit', r));
    assert.equal(code, 0, stderr);
    const ids = readFileSync(out, 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { id: string }).id);
    assert.deepEqual(ids, ['stdin-1', 'stdin-2', 'stdin-3']);
  });
});
