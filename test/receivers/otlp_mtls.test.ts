/**
 * Client certificates on the otlp receiver (tls.client_ca_file, as the
 * Collector names it), over OTLP/HTTP and OTLP/gRPC, with certificates made by
 * openssl for this test: the real SDK exporters deliver with a certificate the
 * CA signed, and are refused in the TLS handshake without one or with one
 * another CA signed.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { OTLPTraceExporter as TracesGrpc } from '@opentelemetry/exporter-trace-otlp-grpc';
import { OTLPTraceExporter as TracesProto } from '@opentelemetry/exporter-trace-otlp-proto';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import { createPipeline, registerComponent, silentLogger } from '../../src/index.js';
import { Collector, freePort, tempDir, until } from '../helpers.js';

const sink = new Collector();
registerComponent(sink.factory('mtls_sink'));

const openssl = (args: string[]): void => void execFileSync('openssl', args, { stdio: 'pipe' });
const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/** A CA, and a certificate it signs for `cn` with the given extensions. */
function ca(dir: string, name: string): { cert: string; key: string } {
  const cert = join(dir, `${name}.pem`);
  const key = join(dir, `${name}.key`);
  openssl(['req', '-x509', ...EC, '-keyout', key, '-out', cert, '-days', '1', '-subj', `/CN=${name}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  return { cert, key };
}

function signed(dir: string, name: string, by: { cert: string; key: string }, extensions: string): { cert: string; key: string } {
  const cert = join(dir, `${name}.pem`);
  const key = join(dir, `${name}.key`);
  const csr = join(dir, `${name}.csr`);
  const ext = join(dir, `${name}.ext`);
  writeFileSync(ext, extensions);
  openssl(['req', ...EC, '-keyout', key, '-out', csr, '-subj', `/CN=${name}`]);
  openssl(['x509', '-req', '-in', csr, '-CA', by.cert, '-CAkey', by.key, '-set_serial', String(Date.now()), '-days', '1', '-out', cert, '-extfile', ext]);
  return { cert, key };
}

async function spans(name: string): Promise<ReadableSpan[]> {
  const memory = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(memory)] });
  provider.getTracer('mtls').startSpan(name).end();
  await provider.forceFlush();
  const finished = memory.getFinishedSpans();
  await provider.shutdown();
  return finished;
}

async function send(exporter: SpanExporter, name: string): Promise<ExportResult> {
  const result = await new Promise<ExportResult>(async (resolve) => exporter.export(await spans(name), resolve));
  await exporter.shutdown();
  return result;
}

describe('otlp receiver with client certificates', () => {
  it('takes data from clients with a certificate its client CA signed and refuses the others in the handshake, over HTTP and gRPC', async (t) => {
    const dir = tempDir(t);
    const authority = ca(dir, 'client-ca');
    const server = signed(dir, 'server', authority, 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
    const client = signed(dir, 'client', authority, 'extendedKeyUsage=clientAuth\n');
    const rogue = signed(dir, 'rogue', ca(dir, 'rogue-ca'), 'extendedKeyUsage=clientAuth\n');
    const httpPort = await freePort();
    const grpcPort = await freePort();
    const tls = { cert_file: server.cert, key_file: server.key, client_ca_file: authority.cert };
    const p = createPipeline({
      receivers: { otlp: { protocols: { http: { endpoint: `127.0.0.1:${httpPort}`, tls }, grpc: { endpoint: `127.0.0.1:${grpcPort}`, tls } } } },
      exporters: { mtls_sink: {} },
      service: { pipelines: { p: { receivers: ['otlp'], exporters: ['mtls_sink'] } }, telemetry: { metrics: { level: 'none' } } },
    }, { logger: silentLogger });
    await p.start();
    try {
      const caPem = readFileSync(authority.cert);
      const pem = (f: string): Buffer => readFileSync(f);
      const url = `https://127.0.0.1:${httpPort}/v1/traces`;
      const grpcUrl = `https://127.0.0.1:${grpcPort}`;
      // A refused client retries what looks like a network error until its timeout: keep that short.
      const timeoutMillis = 1500;

      assert.equal((await send(new TracesProto({ url, httpAgentOptions: { ca: caPem, cert: pem(client.cert), key: pem(client.key) } }), 'http-with-cert')).code, ExportResultCode.SUCCESS);
      assert.equal((await send(new TracesGrpc({ url: grpcUrl, credentials: grpc.credentials.createSsl(caPem, pem(client.key), pem(client.cert)) }), 'grpc-with-cert')).code, ExportResultCode.SUCCESS);

      assert.equal((await send(new TracesProto({ url, timeoutMillis, httpAgentOptions: { ca: caPem } }), 'http-no-cert')).code, ExportResultCode.FAILED);
      assert.equal((await send(new TracesProto({ url, timeoutMillis, httpAgentOptions: { ca: caPem, cert: pem(rogue.cert), key: pem(rogue.key) } }), 'http-rogue')).code, ExportResultCode.FAILED);
      assert.equal((await send(new TracesGrpc({ url: grpcUrl, timeoutMillis, credentials: grpc.credentials.createSsl(caPem) }), 'grpc-no-cert')).code, ExportResultCode.FAILED);
      assert.equal((await send(new TracesGrpc({ url: grpcUrl, timeoutMillis, credentials: grpc.credentials.createSsl(caPem, pem(rogue.key), pem(rogue.cert)) }), 'grpc-rogue')).code, ExportResultCode.FAILED);
      // Not even a request gets through without a certificate.
      assert.equal(await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' }).then(() => 'answered', () => 'refused'), 'refused');

      await until(() => sink.batches.flatMap((b) => b.spans).length >= 2, 5000, 'the two spans with certificates');
      await new Promise((r) => setTimeout(r, 200));
      assert.deepEqual(sink.batches.flatMap((b) => b.spans).map((s) => s.name).sort(), ['grpc-with-cert', 'http-with-cert']);
      for (const protocol of ['http', 'grpc']) {
        const refused = await p.metrics.sum('scope_receiver_refused_connections', { receiver: 'otlp', protocol, reason: 'tls_handshake' });
        assert.ok(refused >= 2, `${protocol}: ${refused} handshakes refused`);
      }
    } finally {
      await p.shutdown();
    }
  });
});
