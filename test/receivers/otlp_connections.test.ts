/**
 * The otlp receiver's connections: capped (max_connections, and the process's
 * open-file budget), closed when silent or idle past their timeouts, and
 * never a crash when a flood of idle sockets meets `ulimit -n 1024` (the
 * reliability review: 1 100 idle sockets took the daemon down with EMFILE).
 * Real sockets on 127.0.0.1, real SDK exporters, the daemon as a child process.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect as http2Connect } from 'node:http2';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { OTLPTraceExporter as TracesGrpc } from '@opentelemetry/exporter-trace-otlp-grpc';
import { OTLPTraceExporter as TracesProto } from '@opentelemetry/exporter-trace-otlp-proto';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import { createPipeline, registerComponent, silentLogger } from '../../src/index.js';
import { CLI, Collector, freePort, promValue, tempDir, until } from '../helpers.js';

const sink = new Collector();
registerComponent(sink.factory('conn_sink'));

interface Held {
  socket: Socket;
  connected: boolean;
  closed: boolean;
  closedAt: number;
}

/** Opens `n` TCP connections that never send a byte. */
function hold(port: number, n: number): Held[] {
  return Array.from({ length: n }, () => {
    const h: Held = { socket: connect(port, '127.0.0.1'), connected: false, closed: false, closedAt: 0 };
    h.socket.on('connect', () => (h.connected = true));
    h.socket.on('error', () => undefined);
    h.socket.resume(); // read whatever comes, so the end of the stream is seen
    h.socket.on('close', () => {
      h.closed = true;
      h.closedAt = Date.now();
    });
    return h;
  });
}

function release(held: Held[]): void {
  for (const h of held) h.socket.destroy();
}

/** Finished spans to hand to an exporter's export(). */
async function spans(names: string[]): Promise<ReadableSpan[]> {
  const memory = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(memory)] });
  for (const name of names) provider.getTracer('conn-test').startSpan(name).end();
  await provider.forceFlush();
  const finished = memory.getFinishedSpans();
  await provider.shutdown();
  return finished;
}

async function exportWith(exporter: SpanExporter, names: string[]): Promise<ExportResult> {
  const result = await new Promise<ExportResult>(async (resolve) => exporter.export(await spans(names), resolve));
  await exporter.shutdown();
  return result;
}

const names = (c: Collector): string[] => c.batches.flatMap((b) => b.spans).map((s) => s.name);

describe('otlp receiver connections', () => {
  it('closes connections beyond max_connections as they are accepted, counts them, and serves again once they go', async () => {
    const httpPort = await freePort();
    const grpcPort = await freePort();
    const p = createPipeline({
      receivers: { otlp: { protocols: { http: { endpoint: `127.0.0.1:${httpPort}`, max_connections: 3 }, grpc: { endpoint: `127.0.0.1:${grpcPort}`, max_connections: 3 } } } },
      exporters: { conn_sink: {} },
      service: { pipelines: { p: { receivers: ['otlp'], exporters: ['conn_sink'] } }, telemetry: { metrics: { level: 'none' } } },
    }, { logger: silentLogger });
    await p.start();
    try {
      for (const [protocol, port] of [['http', httpPort], ['grpc', grpcPort]] as const) {
        const held = hold(port, 5);
        await until(() => held.filter((h) => h.closed).length === 2 && held.every((h) => h.connected || h.closed), 5000, `${protocol}: two of five closed`);
        await new Promise((r) => setTimeout(r, 200));
        assert.equal(held.filter((h) => h.closed).length, 2, `${protocol}: three stay open`);
        assert.equal(await p.metrics.sum('scope_receiver_refused_connections', { receiver: 'otlp', protocol, reason: 'max_connections' }), 2);
        assert.equal(await p.metrics.sum('scope_receiver_open_connections', { receiver: 'otlp', protocol }), 3);
        release(held);
        await until(async () => (await p.metrics.sum('scope_receiver_open_connections', { receiver: 'otlp', protocol })) === 0, 5000, `${protocol}: connections gone`);
      }
      assert.equal((await exportWith(new TracesProto({ url: `http://127.0.0.1:${httpPort}/v1/traces` }), ['after-cap-http'])).code, ExportResultCode.SUCCESS);
      assert.equal((await exportWith(new TracesGrpc({ url: `http://127.0.0.1:${grpcPort}` }), ['after-cap-grpc'])).code, ExportResultCode.SUCCESS);
      await until(() => names(sink).includes('after-cap-http') && names(sink).includes('after-cap-grpc'), 5000, 'both spans');
    } finally {
      await p.shutdown();
    }
  });

  it('closes sockets that never send a byte, requests whose headers never complete, and idle keep-alive connections; gRPC sends GOAWAY to idle sessions', async () => {
    const httpPort = await freePort();
    const grpcPort = await freePort();
    const p = createPipeline({
      receivers: {
        otlp: {
          protocols: {
            http: { endpoint: `127.0.0.1:${httpPort}`, read_header_timeout: '300ms', idle_timeout: '400ms', read_timeout: '2s' },
            grpc: { endpoint: `127.0.0.1:${grpcPort}`, handshake_timeout: '300ms', keepalive: { server_parameters: { max_connection_idle: '400ms' } } },
          },
        },
      },
      exporters: { conn_sink: {} },
      service: { pipelines: { p: { receivers: ['otlp'], exporters: ['conn_sink'] } }, telemetry: { metrics: { level: 'none' } } },
    }, { logger: silentLogger });
    await p.start();
    try {
      const started = Date.now();
      const [silentHttp] = hold(httpPort, 1);
      const [silentGrpc] = hold(grpcPort, 1);
      const [partial] = hold(httpPort, 1);
      let partialAnswer = '';
      partial.socket.on('connect', () => partial.socket.write('POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n'));
      partial.socket.on('data', (d: Buffer) => (partialAnswer += d.toString()));
      // A whole request, answered, then nothing: the connection stays open (keep-alive) until idle_timeout.
      const [idle] = hold(httpPort, 1);
      let answered = 0;
      idle.socket.on('connect', () => idle.socket.write('POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}'));
      idle.socket.on('data', (d: Buffer) => {
        if (d.toString().startsWith('HTTP/1.1 200')) answered = Date.now();
      });
      // An HTTP/2 client that connects (preface and settings) and never makes a call.
      const session = http2Connect(`http://127.0.0.1:${grpcPort}`);
      let goaway = 0;
      session.on('goaway', () => (goaway = Date.now()));
      session.on('error', () => undefined);

      await until(() => silentHttp.closed && silentGrpc.closed && partial.closed && idle.closed && goaway > 0, 10_000, 'all five closed by the server');
      const after = (h: Held, from = started): number => h.closedAt - from;
      console.log(`# closed after: silent http ${after(silentHttp)} ms, silent grpc ${after(silentGrpc)} ms, partial headers ${after(partial)} ms, idle keep-alive ${after(idle, answered)} ms after its answer, grpc GOAWAY ${goaway - started} ms`);
      assert.ok(after(silentHttp) >= 290, 'not before read_header_timeout');
      assert.ok(after(silentGrpc) >= 290, 'not before handshake_timeout');
      assert.ok(answered > 0, 'the request on the idle connection was answered');
      assert.ok(after(idle, answered) >= 390, 'not before idle_timeout');
      assert.ok(goaway - started >= 390, 'not before max_connection_idle');
      assert.equal(await p.metrics.sum('scope_receiver_closed_connections', { receiver: 'otlp', protocol: 'grpc', reason: 'handshake_timeout' }), 1);
      assert.equal(await p.metrics.sum('scope_receiver_closed_connections', { receiver: 'otlp', protocol: 'http', reason: 'idle_timeout' }), 1);
      assert.ok(after(partial) >= 290, 'not before read_header_timeout');
      // The silent one is closed by the sweep; the partial one by Node's headersTimeout (a 408) or by the sweep, whichever comes first.
      assert.ok(partialAnswer === '' || partialAnswer.startsWith('HTTP/1.1 408'), partialAnswer);
      // The client sees its socket closed before the server's close event has run under load: wait for the count.
      await until(async () => (await p.metrics.sum('scope_receiver_closed_connections', { receiver: 'otlp', protocol: 'http', reason: 'header_timeout' })) >= 1, 5_000, 'the header timeouts counted');
      session.destroy();
    } finally {
      await p.shutdown();
    }
  });

  it('refuses a config whose header timeout is longer than its request timeout, naming the option', () => {
    assert.throws(() => createPipeline({
      receivers: { otlp: { protocols: { http: { read_header_timeout: '40s', read_timeout: '30s' } } } },
      exporters: { conn_sink: {} },
      service: { pipelines: { p: { receivers: ['otlp'], exporters: ['conn_sink'] } }, telemetry: { metrics: { level: 'none' } } },
    }, { logger: silentLogger }), /receivers\.otlp\.protocols\.http\.read_header_timeout: must not be longer than read_timeout/);
  });

  it('survives 1 300 idle sockets under `ulimit -n 1024` (the daemon refuses what its file budget cannot hold), and a real SDK exporter delivers after they close', async (t) => {
    const dir = tempDir(t);
    const out = join(dir, 'out.jsonl');
    const httpPort = await freePort();
    const grpcPort = await freePort();
    const config = join(dir, 'p.yaml');
    // max_connections far above the file limit, and timeouts long enough to hold the sockets while measuring.
    writeFileSync(config, `
receivers:
  otlp:
    protocols:
      http: { endpoint: 127.0.0.1:${httpPort}, max_connections: 5000, read_header_timeout: 60s, read_timeout: 60s }
      grpc: { endpoint: 127.0.0.1:${grpcPort}, max_connections: 5000, handshake_timeout: 60s }
exporters: { debug: { path: ${out}, format: json } }
service:
  pipelines: { p: { receivers: [otlp], exporters: [debug] } }
  telemetry: { metrics: { endpoint: 127.0.0.1:0 } }
`);
    const child = spawn('bash', ['-c', `ulimit -n 1024 && exec "${process.execPath}" "${CLI}" --config "${config}"`], { stdio: 'pipe' });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    t.after(() => child.kill('SIGKILL'));
    let metricsUrl = '';
    await until(() => {
      metricsUrl = /"metrics":"(http:\/\/[^"]+)"/.exec(stderr)?.[1] ?? '';
      return (metricsUrl !== '' && stderr.includes('pipeline started')) || child.exitCode !== null;
    }, 10_000, 'the daemon to start');
    assert.equal(child.exitCode, null, stderr);
    assert.match(readFileSync(`/proc/${child.pid}/limits`, 'utf8'), /Max open files\s+1024\s/);
    const scrape = async (): Promise<string> => (await fetch(metricsUrl)).text();

    const held = [...hold(httpPort, 1100), ...hold(grpcPort, 200)];
    let text = '';
    await until(async () => {
      if (!held.every((h) => h.connected || h.closed)) return false;
      text = await scrape();
      const open = promValue(text, 'scope_receiver_open_connections', { receiver: 'otlp' });
      return open + promValue(text, 'scope_receiver_refused_connections_total', { reason: 'fd_limit' }) === held.length;
    }, 30_000, 'every socket accepted or refused');
    const open = promValue(text, 'scope_receiver_open_connections', { receiver: 'otlp' });
    const refusedFd = promValue(text, 'scope_receiver_refused_connections_total', { reason: 'fd_limit' });
    const fds = readdirSync(`/proc/${child.pid}/fd`).length;
    console.log(`# ulimit -n 1024: ${open} of ${held.length} idle sockets held, ${refusedFd} refused (fd_limit), daemon at ${fds} open files`);
    assert.equal(child.exitCode, null, `the daemon is alive: ${stderr.slice(-2000)}`);
    assert.equal(open, 1024 - 128, 'the budget: the open-file limit less its reserve');
    assert.equal(refusedFd, held.length - (1024 - 128));
    assert.equal(promValue(text, 'scope_receiver_refused_connections_total', { reason: 'emfile' }), 0, 'accept never ran out of file descriptors');
    assert.ok(fds < 1024, `${fds} open files`);
    assert.equal(held.filter((h) => h.closed).length, refusedFd, 'the refused ones were closed, the others stay open');
    // The reserve keeps the rest of the daemon working while the receiver is full.
    assert.equal((await fetch(metricsUrl.replace('/metrics', '/healthz'))).status, 200);
    assert.match(stderr, /"msg":"OTLP connection refused".*"reason":"fd_limit"/);

    release(held);
    await until(async () => promValue(await scrape(), 'scope_receiver_open_connections', { receiver: 'otlp' }) === 0, 10_000, 'the sockets to close');
    assert.equal((await exportWith(new TracesProto({ url: `http://127.0.0.1:${httpPort}/v1/traces` }), ['after-flood-http'])).code, ExportResultCode.SUCCESS);
    assert.equal((await exportWith(new TracesGrpc({ url: `http://127.0.0.1:${grpcPort}` }), ['after-flood-grpc'])).code, ExportResultCode.SUCCESS);
    await until(() => {
      try {
        const written = readFileSync(out, 'utf8');
        return written.includes('"after-flood-http"') && written.includes('"after-flood-grpc"');
      } catch {
        return false;
      }
    }, 10_000, 'both spans in the output');
    child.kill('SIGTERM');
    assert.equal(await exited, 0, stderr.slice(-2000));
  });
});
