/**
 * One table-driven test walks the registry and runs every component through the
 * same lifecycle (as the Collector's generated component tests do): factory
 * shape, default config, shutdown without start, start-consume-shutdown, with
 * frozen batches for processors that declare they do not mutate data.
 */
import { after, before, describe, it } from 'node:test';
import { connect, createServer, type Server } from 'node:net';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  createPipeline, defaultConfig, eventToJson, registerComponent, registry, silentLogger,
  type Batch, type ComponentFactory, type Span,
} from '../../src/index.js';
import { Collector, event, freePort, tempDir, until } from '../helpers.js';
import { traceFrame } from '../beam/trace_frames.js';
import { encodeTerm, type SimpleTerm } from '../../src/beam/encode.js';

/** A trace-port peer that sends two trace messages to whoever connects. */
let tracePort = 0;
let traceServer: Server | undefined;
let telemetryPort = 0;

/** A scope_beam forwarder's stream: hello, then two telemetry events. */
function forwarderStream(): Buffer {
  const frame = (term: SimpleTerm): Buffer => {
    const body = encodeTerm(term);
    return Buffer.concat([Buffer.from([0, ...[24, 16, 8, 0].map((s) => (body.length >>> s) & 255)]), body]);
  };
  const hello = { map: [[{ atom: 'protocol' }, 1], [{ atom: 'node' }, { atom: 'app@host' }], [{ atom: 'native_units_per_second' }, 1_000_000_000]] as Array<[SimpleTerm, SimpleTerm]> };
  const event = (n: number): SimpleTerm => ({ tuple: [{ atom: 'telemetry' }, [{ atom: 'app' }, { atom: 'tick' }], { map: [] }, { map: [[{ atom: 'n' }, n]] }, 1_764_000_000_000_000_000n + BigInt(n)] });
  return Buffer.concat([frame({ tuple: [{ atom: 'scope_hello' }, hello] }), frame(event(1)), frame(event(2))]);
}
before(async () => {
  traceServer = createServer((socket) => {
    socket.on('error', () => undefined);
    socket.write(Buffer.concat([
      traceFrame({ tuple: ['trace', { pid: [80, 0] }, 'exit', 'normal'] }),
      traceFrame({ tuple: ['trace', { pid: [80, 0] }, 'register', 'worker'] }),
    ]));
  });
  await new Promise<void>((resolve) => traceServer?.listen(0, '127.0.0.1', resolve));
  tracePort = (traceServer.address() as { port: number }).port;
  otlpPort = await freePort();
  telemetryPort = await freePort();
  // An OTLP peer for the otlp exporters to send to.
  peerGrpc = await freePort();
  peerHttp = await freePort();
  peer = createPipeline({
    receivers: { otlp: { protocols: { grpc: { endpoint: `127.0.0.1:${peerGrpc}` }, http: { endpoint: `127.0.0.1:${peerHttp}` } } } },
    exporters: { debug: { path: '/dev/null' } },
    service: { pipelines: { p: { receivers: ['otlp'], exporters: ['debug'] } }, telemetry: { metrics: { level: 'none' } } },
  }, { logger: silentLogger });
  await peer.start();
  // A stand-in for the Datadog Agent's trace intake (the agent cannot run here): it accepts payloads as its API documents.
  agent = createHttpServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{"rate_by_service":{}}'));
  });
  await new Promise<void>((resolve) => agent?.listen(0, '127.0.0.1', resolve));
  agentPort = (agent.address() as { port: number }).port;
});
after(async () => {
  await peer?.shutdown();
  agent?.close();
});
let agent: HttpServer | undefined;
let agentPort = 0;
let otlpPort = 0;
let peerGrpc = 0;
let peerHttp = 0;
let peer: ReturnType<typeof createPipeline> | undefined;

/** Receivers fed from outside after start: how to feed them. */
const feeders: Record<string, () => Promise<void>> = {
  beam_telemetry: async () => {
    const socket = connect(telemetryPort, '127.0.0.1');
    socket.on('error', () => undefined);
    socket.on('data', () => socket.end());
    socket.write(forwarderStream());
  },
  otlp: async () => {
    const span = (id: string) => ({ traceId: '5b8efff798038103d269b633813fc60c', spanId: id, name: 'x', startTimeUnixNano: '1', endTimeUnixNano: '2' });
    const res = await fetch(`http://127.0.0.1:${otlpPort}/v1/traces`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ resourceSpans: [{ scopeSpans: [{ spans: [span('00000000000000a1'), span('00000000000000a2')] }] }] }),
    });
    assert.equal(res.status, 200);
  },
};
after(() => traceServer?.close());

/** Receivers and how much data each feeds in the lifecycle test. */
const fed: Record<string, number> = { jsonl: 3, push: 2, beam_trace_port: 2, otlp: 2, beam_telemetry: 2 };

/** Options a type cannot do without; every other type must work from its defaults alone. */
const required: Record<string, (dir: string, kind?: string) => Record<string, unknown>> = {
  jsonl: (dir) => {
    const path = join(dir, 'in.jsonl');
    writeFileSync(path, [event(), event(), event()].map(eventToJson).join('\n') + '\n');
    return { path };
  },
  memory_limiter: () => ({ limit_mib: 64 * 1024 }),
  beam_trace_port: () => ({ endpoint: `127.0.0.1:${tracePort}` }),
  beam_telemetry: () => ({ endpoint: `127.0.0.1:${telemetryPort}` }),
  otlp: (_dir, kind) => (kind === 'exporter'
    ? { endpoint: `127.0.0.1:${peerGrpc}` }
    : { protocols: { http: { endpoint: `127.0.0.1:${otlpPort}` } } }),
  otlp_http: () => ({ endpoint: `http://127.0.0.1:${peerHttp}` }),
  datadog: () => ({ endpoint: `http://127.0.0.1:${agentPort}` }),
  // Its default (./data/archive) works too, but would write into the working directory.
  parquet: (dir) => ({ path: join(dir, 'archive') }),
};

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

/** What each exporter carries: spans only for datadog, events for the others. */
function batchFor(type: string): Batch {
  if (type !== 'datadog') return frozenBatch();
  const span = (id: string): Span => ({
    traceId: '5b8efff798038103d269b633813fc60c', spanId: id, name: 'GET /', spanKind: 'server', startTimeUnixNano: 1n, endTimeUnixNano: 2n,
    attributes: {}, events: [], links: [], status: { code: 'unset' }, resource: { 'service.name': 'shop' },
  });
  return deepFreeze({ events: [], spans: [span('eee19b7ec3c1b173'), span('eee19b7ec3c1b174')], metrics: [] });
}

function frozenBatch(): Batch {
  return deepFreeze({ events: [event(), event({ type: 'process.exit', attributes: {} })], spans: [], metrics: [] });
}

const sink = new Collector();
registerComponent(sink.factory('lifecycle_sink'));

function configFor(f: ComponentFactory, dir: string): Record<string, unknown> {
  return required[f.type]?.(dir, f.kind) ?? {};
}

describe('every registered component', () => {
  const builtins = registry.list().filter((f) => f.type !== 'lifecycle_sink');
  it('includes the built-ins', () => {
    const names = builtins.map((f) => `${f.kind}:${f.type}`);
    for (const n of ['receiver:jsonl', 'receiver:push', 'processor:batch', 'processor:filter', 'processor:memory_limiter', 'exporter:debug']) {
      assert.ok(names.includes(n), n);
    }
  });

  for (const factory of builtins) {
    describe(`${factory.kind} ${factory.type}`, () => {
      it('has a well-formed factory and a schema with a description per option', () => {
        assert.match(factory.type, /^[a-z][a-z0-9_]*$/);
        assert.ok(factory.description.length > 10);
        assert.equal(factory.configSchema.type, 'object');
        assert.equal(factory.configSchema.additionalProperties, false, 'typos must fail at load');
        for (const [name, option] of Object.entries((factory.configSchema.properties ?? {}) as Record<string, { description?: string }>)) {
          assert.ok(option.description, `${factory.type}.${name} needs a description (it is the README text)`);
        }
      });

      it('validates its default config (plus required options)', (t) => {
        const dir = tempDir(t);
        const config = { ...defaultConfig(factory), ...configFor(factory, dir) };
        const kindSection = `${factory.kind}s`;
        const doc: Record<string, unknown> = {
          receivers: { push: {} }, exporters: { lifecycle_sink: {} },
          service: { pipelines: { p: { receivers: ['push'], exporters: ['lifecycle_sink'] } } },
        };
        const section = (doc[kindSection] ??= {}) as Record<string, unknown>;
        section[factory.type] = config;
        assert.doesNotThrow(() => createPipeline(doc, { logger: silentLogger }));
      });

      it('shuts down without start, and twice', async (t) => {
        const dir = tempDir(t);
        const pipeline = createPipeline(pipelineWith(factory, configFor(factory, dir), join(dir, 'out')), { logger: silentLogger });
        assert.deepEqual(await pipeline.shutdown(), { drained: true });
        assert.deepEqual(await pipeline.shutdown(), { drained: true });
      });

      it('starts, carries data, and shuts down', async (t) => {
        const dir = tempDir(t);
        const before = sink.items;
        const pipeline = createPipeline(pipelineWith(factory, configFor(factory, dir), join(dir, 'out')), { logger: silentLogger });
        await pipeline.start();
        if (factory.kind === 'receiver' && factory.type !== 'push') {
          assert.ok(fed[factory.type], `add how ${factory.type} is fed to this test`);
          await feeders[factory.type]?.();
          await until(() => sink.items - before === fed[factory.type], 5000, `the ${factory.type} receiver's data`);
        } else {
          const batch = factory.kind === 'processor' && !factory.mutatesData ? frozenBatch() : structuredClone(batchFor(factory.type));
          assert.equal((await pipeline.push(batch)).status, 'accepted');
        }
        const result = await pipeline.shutdown();
        assert.equal(result.drained, true);
        if (factory.kind === 'exporter') {
          assert.equal(await pipeline.metrics.sum('scope_exporter_sent_items', { exporter: factory.type }), 2);
        } else {
          assert.equal(sink.items - before, factory.kind === 'receiver' ? fed[factory.type] : 2);
          assert.equal(await pipeline.metrics.sum('scope_exporter_send_failed_items'), 0);
        }
      });
    });
  }
});

function pipelineWith(f: ComponentFactory, config: Record<string, unknown>, outPath: string): Record<string, unknown> {
  const exporterConfig = f.type === 'debug' ? { ...config, path: outPath } : config;
  const receivers = f.kind === 'receiver' ? { [f.type]: config } : { push: {} };
  const processors = f.kind === 'processor' ? { [f.type]: config } : {};
  const exporters = f.kind === 'exporter' ? { [f.type]: exporterConfig } : { lifecycle_sink: {} };
  return {
    receivers, processors, exporters,
    service: {
      pipelines: {
        p: { receivers: Object.keys(receivers), processors: Object.keys(processors), exporters: Object.keys(exporters) },
      },
      telemetry: { metrics: { level: 'none' } },
    },
  };
}
