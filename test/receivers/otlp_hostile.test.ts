/** Hostile input at a running daemon's OTLP endpoints: each gets the right answer, and the daemon keeps serving. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { otlpTypes } from '../../src/otel/proto.js';
import { freePort, promValue, startDaemon, tempDir, until } from '../helpers.js';

function rawGrpc(target: string, body: Buffer): Promise<grpc.ServiceError | undefined> {
  const client = new grpc.Client(target, grpc.credentials.createInsecure(), { 'grpc.max_send_message_length': 64 * 1024 * 1024 });
  return new Promise((resolve) => {
    client.makeUnaryRequest('/opentelemetry.proto.collector.trace.v1.TraceService/Export', (b: Buffer) => b, (b: Buffer) => b, body, (error) => {
      client.close();
      resolve(error ?? undefined);
    });
  });
}

describe('otlp receiver under hostile input, in the daemon', () => {
  it('answers each bad request correctly and keeps serving', async (t) => {
    const dir = tempDir(t);
    const out = join(dir, 'out.jsonl');
    const grpcPort = await freePort();
    const httpPort = await freePort();
    const config = join(dir, 'p.yaml');
    writeFileSync(config, `
receivers:
  otlp:
    protocols:
      grpc: { endpoint: 127.0.0.1:${grpcPort} }
      http: { endpoint: 127.0.0.1:${httpPort} }
exporters: { debug: { path: ${out}, format: json } }
service:
  pipelines: { p: { receivers: [otlp], exporters: [debug] } }
  telemetry: { metrics: { endpoint: 127.0.0.1:0 } }
`);
    const daemon = startDaemon(['--config', config]);
    t.after(() => daemon.child.kill('SIGKILL'));
    const metrics = await daemon.metricsUrl();
    const url = `http://127.0.0.1:${httpPort}/v1/traces`;
    const post = (body: Buffer | string, type: string): Promise<number> => fetch(url, { method: 'POST', headers: { 'content-type': type }, body }).then((r) => r.status);

    const type = otlpTypes().request.traces;
    const valid = Buffer.from(type.encode(type.fromObject({
      resourceSpans: [{ scopeSpans: [{ spans: [{ traceId: Buffer.alloc(16, 7), spanId: Buffer.alloc(8, 9), name: 'survivor', startTimeUnixNano: 1, endTimeUnixNano: 2 }] }] }],
    })).finish());

    assert.equal(await post(Buffer.from('not a protobuf at all, just text'), 'application/x-protobuf'), 400);
    assert.equal(await post(valid.subarray(0, valid.length - 7), 'application/x-protobuf'), 400, 'truncated protobuf');
    // Ids that are not ids refuse the request (the Collector's decoder does the same), never retried by clients.
    assert.equal(await post('{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "not-hex", "spanId": "xyz"}]}]}]}', 'application/json'), 400, 'invalid ids');
    // The reliability review's poison: an attribute nested 5 000 deep (140 KB of JSON) was answered 200 and
    // then blew the exporters' stack, retried for minutes with /healthz at 503. Now: 400, naming where.
    const open = '{"kvlistValue":{"values":[{"key":"k","value":';
    const poison = `{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"${'ab'.repeat(16)}","spanId":"${'cd'.repeat(8)}","name":"poison","attributes":[{"key":"p","value":${open.repeat(5000)}{"stringValue":"x"}${'}]}}'.repeat(5000)}}]}]}]}]}`;
    const poisoned = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: poison });
    assert.equal(poisoned.status, 400);
    assert.equal(((await poisoned.json()) as { message: string }).message, 'resourceSpans[0].scopeSpans[0].spans[0].attributes[0].value: nested deeper than 64');
    // One span of 200 with a start time past what the model holds: the request is refused, naming the span.
    const spans = Array.from({ length: 200 }, (_, i) => ({ traceId: 'ab'.repeat(16), spanId: (i + 1).toString(16).padStart(16, '0'), name: `bulk-${i}`, startTimeUnixNano: i === 99 ? '18446744073709551615' : '1', endTimeUnixNano: '2' }));
    const outOfRange = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ resourceSpans: [{ scopeSpans: [{ spans }] }] }) });
    assert.equal(outOfRange.status, 400);
    assert.match(((await outOfRange.json()) as { message: string }).message, /^resourceSpans\[0\]\.scopeSpans\[0\]\.spans\[99\]\.startTimeUnixNano: 18446744073709551615 is out of range/);
    assert.equal(await post('{]', 'application/json'), 400);
    assert.equal(await post('hello', 'text/html'), 415);
    assert.equal(await post(Buffer.alloc(10 * 1024 * 1024, 1), 'application/x-protobuf'), 413, '10 MiB body');
    assert.equal((await rawGrpc(`127.0.0.1:${grpcPort}`, Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f])))?.code, grpc.status.INVALID_ARGUMENT);
    assert.equal((await rawGrpc(`127.0.0.1:${grpcPort}`, valid.subarray(0, valid.length - 3)))?.code, grpc.status.INVALID_ARGUMENT, 'truncated protobuf over gRPC');
    assert.equal((await rawGrpc(`127.0.0.1:${grpcPort}`, Buffer.alloc(10 * 1024 * 1024, 1)))?.code, grpc.status.RESOURCE_EXHAUSTED, '10 MiB gRPC message');

    // Still up, still serving both protocols.
    assert.equal(await post(valid, 'application/x-protobuf'), 200);
    assert.equal(await rawGrpc(`127.0.0.1:${grpcPort}`, valid), undefined);
    assert.equal((await fetch(metrics.replace('/metrics', '/healthz'))).status, 200);
    await until(() => {
      try {
        return readFileSync(out, 'utf8').split('\n').filter((l) => l.includes('"survivor"')).length === 2;
      } catch {
        return false;
      }
    }, 10_000, 'the valid spans');
    const text = await (await fetch(metrics)).text();
    assert.match(text, /scope_receiver_refused_items_total\{receiver="otlp",reason="malformed"[^}]*\} [4-9]/);
    assert.equal(promValue(text, 'scope_receiver_refused_items_total', { receiver: 'otlp', reason: 'too_deep' }), 1);
    assert.equal(promValue(text, 'scope_receiver_refused_items_total', { receiver: 'otlp', reason: 'invalid_value' }), 201, 'the one bad-id span and the 200 of the refused request');
    assert.equal(promValue(text, 'scope_exporter_send_failed_items_total'), 0, 'nothing hostile reached the exporter');
    assert.ok(!readFileSync(out, 'utf8').includes('poison') && !readFileSync(out, 'utf8').includes('bulk-'), 'nothing of a refused request was written');
    daemon.child.kill('SIGTERM');
    assert.equal((await daemon.exited()).code, 0, daemon.stderr());
  });
});
