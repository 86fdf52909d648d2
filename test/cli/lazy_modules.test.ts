/**
 * What the daemon loads: the OpenTelemetry SDK's OTLP exporter modules only
 * when an otlp or otlp_http exporter is configured (issue 20), each exporter
 * its own; commands that only read the registry (components, validate) load
 * none. And the young generation's size follows the config.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { needsLargeYoungGeneration } from '../../src/util/young_generation.js';
import { CLI, freePort, startDaemon, tempDir, until } from '../helpers.js';

const RECORDER = pathToFileURL(join(import.meta.dirname, 'record_modules.js')).href;

/** The SDK's OTLP exporter packages and what only they pull in. */
const GRPC_SDK = /node_modules\/@opentelemetry\/(exporter-(trace|logs|metrics)-otlp-grpc|otlp-grpc-exporter-base)\//;
const HTTP_SDK = /node_modules\/@opentelemetry\/exporter-(trace|logs|metrics)-otlp-(http|proto)\//;
const SHARED_SDK = /node_modules\/@opentelemetry\/(otlp-exporter-base|otlp-transformer|sdk-trace-base|sdk-logs)\//;

function packages(modules: string[], pattern: RegExp): string[] {
  return [...new Set(modules.filter((m) => pattern.test(m)).map((m) => /node_modules\/(@[^/]+\/[^/]+)/.exec(m)?.[1] ?? m))].sort();
}

/** Runs the daemon with `exporters` until it has started, stops it, and returns the CommonJS modules it had loaded. */
async function daemonModules(t: { after(fn: () => void): void }, exporters: string, names: string[]): Promise<{ modules: string[]; stderr: string }> {
  const dir = tempDir(t);
  const record = join(dir, 'modules.txt');
  const config = join(dir, 'pipeline.yaml');
  writeFileSync(config, `
receivers:
  otlp:
    protocols:
      grpc: { endpoint: 127.0.0.1:${await freePort()} }
      http: { endpoint: 127.0.0.1:${await freePort()} }
processors:
  batch: {}
exporters:
${exporters}
service:
  pipelines:
    traces: { receivers: [otlp], processors: [batch], exporters: [${names.join(', ')}] }
  telemetry:
    metrics: { level: none }
`);
  const daemon = startDaemon(['--config', config, '--log-level', 'debug'], {
    NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import=${RECORDER}`, SCOPE_RECORD_MODULES: record,
  });
  t.after(() => daemon.child.kill('SIGKILL'));
  await until(() => daemon.stderr().includes('pipeline started') || daemon.child.exitCode !== null, 20_000, 'the daemon to start');
  assert.match(daemon.stderr(), /pipeline started/);
  daemon.child.kill('SIGTERM');
  assert.equal((await daemon.exited()).code, 0, daemon.stderr());
  return { modules: readFileSync(record, 'utf8').split('\n').filter(Boolean), stderr: daemon.stderr() };
}

describe('modules the daemon loads (issue 20)', () => {
  it('otlp receiver -> debug: none of the SDK exporter modules; the receiver\'s own are there', async (t) => {
    const { modules, stderr } = await daemonModules(t, '  debug: { path: /dev/null }', ['debug']);
    assert.ok(modules.some((m) => m.includes('node_modules/@grpc/grpc-js/')), 'the recorder sees the receiver\'s gRPC server');
    assert.ok(modules.some((m) => m.includes('node_modules/protobufjs/')), 'the recorder sees protobufjs');
    assert.deepEqual(packages(modules, GRPC_SDK), []);
    assert.deepEqual(packages(modules, HTTP_SDK), []);
    assert.deepEqual(packages(modules, SHARED_SDK), []);
    assert.match(stderr, /young generation held/, 'no beam_trace_port receiver: the young generation is held');
  });

  it('an otlp_http exporter loads the SDK\'s HTTP exporters, not the gRPC ones', async (t) => {
    const { modules } = await daemonModules(t, '  otlp_http: { endpoint: http://127.0.0.1:9 }', ['otlp_http']);
    // Both encodings' exporters (sdk.ts imports them together); encoding picks one.
    assert.deepEqual(packages(modules, HTTP_SDK), ['logs', 'metrics', 'trace'].flatMap((s) => [`@opentelemetry/exporter-${s}-otlp-http`, `@opentelemetry/exporter-${s}-otlp-proto`]));
    assert.ok(packages(modules, SHARED_SDK).includes('@opentelemetry/otlp-exporter-base'));
    assert.deepEqual(packages(modules, GRPC_SDK), []);
  });

  it('an otlp exporter loads the SDK\'s gRPC exporters', async (t) => {
    const { modules } = await daemonModules(t, '  otlp: { endpoint: 127.0.0.1:9 }', ['otlp']);
    assert.deepEqual(packages(modules, GRPC_SDK), [
      '@opentelemetry/exporter-logs-otlp-grpc', '@opentelemetry/exporter-metrics-otlp-grpc', '@opentelemetry/exporter-trace-otlp-grpc',
      '@opentelemetry/otlp-grpc-exporter-base',
    ]);
    // The gRPC metric exporter is built on the HTTP one's base class; nothing else of the HTTP exporters.
    assert.deepEqual(packages(modules, HTTP_SDK), ['@opentelemetry/exporter-metrics-otlp-http']);
  });

  it('components and validate list and check the otlp exporters without loading the SDK', (t) => {
    const dir = tempDir(t);
    const config = join(dir, 'pipeline.yaml');
    writeFileSync(config, `
receivers: { otlp: { protocols: { http: { endpoint: 127.0.0.1:0 } } } }
exporters:
  otlp: { endpoint: 127.0.0.1:4317, tls: { insecure: true } }
  otlp_http: { endpoint: http://127.0.0.1:4318, encoding: json }
service:
  pipelines: { traces: { receivers: [otlp], exporters: [otlp, otlp_http] } }
`);
    for (const args of [['components'], ['validate', '--config', config]]) {
      const record = join(dir, `${args[0]}.txt`);
      const r = spawnSync(process.execPath, [CLI, ...args], {
        encoding: 'utf8', timeout: 20_000,
        env: { ...process.env, NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import=${RECORDER}`, SCOPE_RECORD_MODULES: record },
      });
      assert.equal(r.status, 0, r.stderr);
      if (args[0] === 'components') assert.match(r.stdout, /exporter\s+otlp_http\s/);
      const modules = readFileSync(record, 'utf8').split('\n');
      assert.ok(modules.some((m) => m.includes('node_modules/ajv/')), `${args[0]}: the recorder sees the registry's modules`);
      assert.deepEqual(packages(modules, new RegExp(`${GRPC_SDK.source}|${HTTP_SDK.source}|${SHARED_SDK.source}`)), [], args[0]);
    }
  });
});

describe('young generation', () => {
  it('is large with a beam_trace_port receiver, or as service.young_generation says', () => {
    assert.equal(needsLargeYoungGeneration({ receivers: { beam_trace_port: {}, otlp: {} } }), true);
    assert.equal(needsLargeYoungGeneration({ receivers: { 'beam_trace_port/node_a': {} } }), true);
    assert.equal(needsLargeYoungGeneration({ receivers: { otlp: {}, jsonl: {}, beam_telemetry: {} } }), false);
    assert.equal(needsLargeYoungGeneration({}), false);
    assert.equal(needsLargeYoungGeneration({ receivers: { otlp: {} }, service: { young_generation: 'large' } }), true);
    assert.equal(needsLargeYoungGeneration({ receivers: { beam_trace_port: {} }, service: { young_generation: 'held' } }), false);
    assert.equal(needsLargeYoungGeneration({ receivers: { beam_trace_port: {} }, service: { young_generation: 'auto' } }), true);
  });

  it('held: it stops growing at the cap under an allocation load that grows it to the 64 MiB maximum otherwise', () => {
    // A load whose objects live across scavenges (as events across a batch), yielding between chunks as the daemon does.
    const script = (hold: string): string => `
      import { capYoungGeneration, youngGenerationBytes } from ${JSON.stringify(pathToFileURL(join(import.meta.dirname, '../../src/util/young_generation.js')).href)};
      ${hold}
      const keep = [];
      let largest = 0;
      for (let chunk = 0; chunk < 400; chunk++) {
        for (let i = 0; i < 20000; i++) keep.push({ i, s: 'v' + i, a: [i] });
        if (keep.length > 300000) keep.splice(0, 150000);
        largest = Math.max(largest, youngGenerationBytes());
        await new Promise((r) => setImmediate(r));
      }
      process.stdout.write(String(largest / 2 ** 20));`;
    const largest = (hold: string): number => {
      const r = spawnSync(process.execPath, ['--max-semi-space-size=64', '--input-type=module', '-e', script(hold)], { encoding: 'utf8', timeout: 60_000 });
      assert.equal(r.status, 0, r.stderr);
      return Number(r.stdout);
    };
    const free = largest('');
    const held = largest('capYoungGeneration(2);');
    // Released as soon as collections take any time at all (share 0 over 50 ms): V8 grows it again.
    const released = largest('capYoungGeneration(2, { releaseAboveGcShare: 0, windowMs: 50 });');
    assert.ok(free >= 32, `without the hold it grows (${free} MiB)`);
    // 2 MiB semi-spaces: 4 MiB of young generation, one growth step past it at most.
    assert.ok(held <= 8, `held at 2 MiB semi-spaces: ${held} MiB`);
    assert.ok(released >= 32, `released under collections, it grows (${released} MiB)`);
  });
});
