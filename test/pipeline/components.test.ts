/**
 * One table-driven test walks the registry and runs every component through the
 * same lifecycle (as the Collector's generated component tests do): factory
 * shape, default config, shutdown without start, start-consume-shutdown, with
 * frozen batches for processors that declare they do not mutate data.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  createPipeline, defaultConfig, eventToJson, registerComponent, registry, silentLogger,
  type Batch, type ComponentFactory,
} from '../../src/index.js';
import { Collector, event, tempDir, until } from '../helpers.js';

/** Options a type cannot do without; every other type must work from its defaults alone. */
const required: Record<string, (dir: string) => Record<string, unknown>> = {
  jsonl: (dir) => {
    const path = join(dir, 'in.jsonl');
    writeFileSync(path, [event(), event(), event()].map(eventToJson).join('\n') + '\n');
    return { path };
  },
  memory_limiter: () => ({ limit_mib: 64 * 1024 }),
};

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

function frozenBatch(): Batch {
  return deepFreeze({ events: [event(), event({ type: 'process.exit', attributes: {} })], spans: [], metrics: [] });
}

const sink = new Collector();
registerComponent(sink.factory('lifecycle_sink'));

function configFor(f: ComponentFactory, dir: string): Record<string, unknown> {
  return required[f.type]?.(dir) ?? {};
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
        if (factory.kind === 'receiver' && factory.type === 'jsonl') {
          await until(() => sink.items - before === 3 || false, 5000, 'the jsonl lines');
        } else if (factory.kind !== 'receiver' || factory.type === 'push') {
          const batch = factory.kind === 'processor' && !factory.mutatesData ? frozenBatch() : structuredClone(frozenBatch());
          assert.equal((await pipeline.push(batch)).status, 'accepted');
        }
        const result = await pipeline.shutdown();
        assert.equal(result.drained, true);
        if (factory.kind === 'exporter') {
          assert.equal(await pipeline.metrics.sum('scope_exporter_sent_items', { exporter: factory.type }), 2);
        } else {
          const expected = factory.type === 'jsonl' ? 3 : 2;
          assert.equal(sink.items - before, expected);
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
