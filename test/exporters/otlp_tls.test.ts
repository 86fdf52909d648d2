/** OTLP over TLS both ways: the otlp receiver serving a certificate, the otlp and otlp_http exporters verifying it. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { createPipeline, registerComponent, silentLogger } from '../../src/index.js';
import { Collector, event, freePort, tempDir, until } from '../helpers.js';

const sink = new Collector();
registerComponent(sink.factory('tls_sink'));

/** A self-signed certificate for 127.0.0.1, made with openssl for this test. */
function certificate(dir: string): { cert: string; key: string } {
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert,
    '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-addext', 'basicConstraints=critical,CA:TRUE',
  ], { stdio: 'pipe' });
  return { cert, key };
}

describe('OTLP over TLS', () => {
  it('otlp (gRPC) and otlp_http (https) exporters deliver to a TLS otlp receiver that they verify', async (t) => {
    const dir = tempDir(t);
    const { cert, key } = certificate(dir);
    const grpcPort = await freePort();
    const httpPort = await freePort();
    const B = createPipeline({
      receivers: {
        otlp: {
          protocols: {
            grpc: { endpoint: `127.0.0.1:${grpcPort}`, tls: { cert_file: cert, key_file: key } },
            http: { endpoint: `127.0.0.1:${httpPort}`, tls: { cert_file: cert, key_file: key } },
          },
        },
      },
      exporters: { tls_sink: {} },
      service: { pipelines: { p: { receivers: ['otlp'], exporters: ['tls_sink'] } }, telemetry: { metrics: { level: 'none' } } },
    }, { logger: silentLogger });
    const A = createPipeline({
      receivers: { push: {} },
      exporters: {
        otlp: { endpoint: `127.0.0.1:${grpcPort}`, tls: { insecure: false, ca_file: cert } },
        otlp_http: { endpoint: `https://127.0.0.1:${httpPort}`, tls: { ca_file: cert } },
      },
      service: { pipelines: { p: { receivers: ['push'], exporters: ['otlp', 'otlp_http'] } }, telemetry: { metrics: { level: 'none' } } },
    }, { logger: silentLogger });
    await B.start();
    await A.start();
    try {
      await A.push({ events: [event({ id: 'tls-1' })], spans: [], metrics: [] });
      await until(() => sink.events.length >= 2, 15_000, 'the event through both exporters');
      assert.deepEqual(sink.events.map((e) => e.attributes['scope.event.id']), ['tls-1', 'tls-1']);
      // Plaintext is refused by the TLS endpoint.
      const plain = await fetch(`http://127.0.0.1:${httpPort}/v1/logs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' }).then(() => 'answered', () => 'refused');
      assert.equal(plain, 'refused');
    } finally {
      await A.shutdown();
      await B.shutdown();
    }
    assert.equal(await A.metrics.sum('scope_exporter_sent_items'), 2);
  });
});
