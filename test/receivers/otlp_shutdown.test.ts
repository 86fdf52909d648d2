/**
 * SIGTERM with connections open (the reliability review: one idle connection
 * kept the receiver's close waiting past shutdown_timeout, the exporters were
 * never drained, and everything in flight was lost, exit 1). The daemon as a
 * child process: idle HTTP and gRPC sockets, the real SDK exporters' own
 * keep-alive connections, a request mid-body that completes during the grace,
 * one that never completes; everything acknowledged before SIGTERM must be in
 * the output, and the exit is 0 within shutdown_timeout.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { OTLPTraceExporter as TracesGrpc } from '@opentelemetry/exporter-trace-otlp-grpc';
import { OTLPTraceExporter as TracesProto } from '@opentelemetry/exporter-trace-otlp-proto';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import { parseJsonLine } from '../../src/index.js';
import { freePort, promValue, startDaemon, tempDir, until } from '../helpers.js';

const SHUTDOWN_TIMEOUT_MS = 5000;
const GRACE_MS = 1000;

async function makeSpans(prefix: string, count: number): Promise<ReadableSpan[]> {
  const memory = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(memory)] });
  const tracer = provider.getTracer('shutdown-test');
  for (let i = 0; i < count; i++) tracer.startSpan(`${prefix}-${i}`, { attributes: { i } }).end();
  await provider.forceFlush();
  const spans = memory.getFinishedSpans();
  await provider.shutdown();
  return spans;
}

const exportOnce = (exporter: SpanExporter, spans: ReadableSpan[]): Promise<ExportResult> => new Promise((resolve) => exporter.export(spans, resolve));

interface Tracked { socket: Socket; closedAt: number }

function track(socket: Socket): Tracked {
  const t: Tracked = { socket, closedAt: 0 };
  socket.on('error', () => undefined);
  socket.on('close', () => (t.closedAt = Date.now()));
  return t;
}

describe('otlp receiver shutdown', () => {
  it('on SIGTERM closes idle connections at once and busy ones after the grace, and exits 0 within shutdown_timeout with everything acknowledged in the output', async (t) => {
    const dir = tempDir(t);
    const out = join(dir, 'out.jsonl');
    const httpPort = await freePort();
    const grpcPort = await freePort();
    const config = join(dir, 'p.yaml');
    // The batch processor holds everything until shutdown, so the exporter has all of it to drain then.
    writeFileSync(config, `
receivers:
  otlp:
    shutdown_grace: ${GRACE_MS}ms
    protocols:
      http: { endpoint: 127.0.0.1:${httpPort} }
      grpc: { endpoint: 127.0.0.1:${grpcPort} }
processors:
  batch: { send_batch_size: 1000000, timeout: 1h }
exporters:
  debug: { path: ${out}, format: json, sending_queue: { queue_size: 1000000 } }
service:
  shutdown_timeout: ${SHUTDOWN_TIMEOUT_MS}ms
  pipelines: { p: { receivers: [otlp], processors: [batch], exporters: [debug] } }
  telemetry: { metrics: { endpoint: 127.0.0.1:0 } }
`);
    const daemon = startDaemon(['--config', config]);
    t.after(() => daemon.child.kill('SIGKILL'));
    const metrics = await daemon.metricsUrl();

    // Acknowledged: 10 000 spans, half over OTLP/HTTP, half over OTLP/gRPC, by the real SDK exporters
    // (left open: their keep-alive connection and gRPC channel stay connected, idle).
    const http = new TracesProto({ url: `http://127.0.0.1:${httpPort}/v1/traces` });
    const grpc = new TracesGrpc({ url: `http://127.0.0.1:${grpcPort}` });
    const acknowledged = new Set<string>();
    for (let round = 0; round < 5; round++) {
      for (const [label, exporter] of [['http', http], ['grpc', grpc]] as const) {
        const spans = await makeSpans(`${label}-${round}`, 1000);
        assert.equal((await exportOnce(exporter, spans)).code, ExportResultCode.SUCCESS);
        for (const s of spans) acknowledged.add(s.spanContext().spanId);
      }
    }
    assert.equal(acknowledged.size, 10_000);

    // Idle: 50 sockets on each protocol that never send a byte.
    const idle = [...Array.from({ length: 50 }, () => track(connect(httpPort, '127.0.0.1'))), ...Array.from({ length: 50 }, () => track(connect(grpcPort, '127.0.0.1')))];
    // Busy: a request whose body is half sent (the rest follows 300 ms after SIGTERM), and one that never completes.
    const body = JSON.stringify({ resourceSpans: [{ scopeSpans: [{ spans: [{ traceId: 'ab'.repeat(16), spanId: 'cd'.repeat(8), name: 'mid-body', startTimeUnixNano: '1', endTimeUnixNano: '2' }] }] }] });
    const slow = track(connect(httpPort, '127.0.0.1'));
    let slowAnswer = '';
    slow.socket.on('data', (d: Buffer) => (slowAnswer += d.toString()));
    slow.socket.write(`POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, 40)}`);
    const stuck = track(connect(httpPort, '127.0.0.1'));
    stuck.socket.resume();
    stuck.socket.write('POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"resourceSpans":');
    await until(async () => promValue(await (await fetch(metrics)).text(), 'scope_receiver_open_connections', { receiver: 'otlp' }) >= 104, 10_000, 'every connection open');
    assert.equal(existsSync(out) ? readFileSync(out, 'utf8') : '', '', 'the batch processor still holds everything');

    const sigterm = Date.now();
    daemon.child.kill('SIGTERM');
    setTimeout(() => slow.socket.write(body.slice(40)), 300);
    const { code } = await daemon.exited();
    const elapsed = Date.now() - sigterm;
    const idleClosed = Math.max(...idle.map((i) => i.closedAt - sigterm));
    console.log(`# SIGTERM → exit ${code} in ${elapsed} ms (shutdown_timeout ${SHUTDOWN_TIMEOUT_MS} ms); 100 idle sockets closed within ${idleClosed} ms, the stuck request's after ${stuck.closedAt - sigterm} ms; 10 000 spans drained`);
    assert.equal(code, 0, daemon.stderr().slice(-3000));
    assert.ok(elapsed < SHUTDOWN_TIMEOUT_MS, `${elapsed} ms`);
    assert.match(daemon.stderr(), /"msg":"pipeline stopped","drained":true/);
    assert.ok(idle.every((i) => i.closedAt > 0), 'every idle socket was closed');
    assert.ok(stuck.closedAt - sigterm >= GRACE_MS - 50, 'a busy connection gets the grace');
    assert.ok(idleClosed < stuck.closedAt - sigterm, 'idle connections are closed before the grace ends');
    assert.match(slowAnswer, /^HTTP\/1\.1 200 /, 'the request that completed during the grace was taken');
    assert.match(slowAnswer, /connection: close/i);

    const written = readFileSync(out, 'utf8').trim().split('\n').map(parseJsonLine);
    const ids = new Set(written.map((l) => (l.kind === 'span' ? l.item.spanId : '')));
    assert.deepEqual([...acknowledged].filter((id) => !ids.has(id)), [], 'every acknowledged span is in the output');
    assert.ok(ids.has('cd'.repeat(8)), 'and the one acknowledged during the grace');
    assert.equal(written.length, 10_001);
    await http.shutdown();
    await grpc.shutdown();
  });
});
