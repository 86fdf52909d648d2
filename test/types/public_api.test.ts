/**
 * Guards what library users import: this file must compile against the
 * package's public entry point, and the runtime exports must be there.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as api from '../../src/index.js';
import type {
  Batch, BatchConsumer, ComponentFactory, ConsumeResult, Exporter, ExportResult, MetricPoint, Pipeline,
  Processor, ProcessorFactory, Receiver, ReceiverContext, ReceiverFactory, ResolvedConfig, ScopeEvent, Span,
} from '../../src/index.js';

type Equals<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true : false;
const assertType = <T extends true>(): T => true as T;

// Shapes users rely on.
assertType<Equals<Batch, { events: ScopeEvent[]; spans: Span[]; metrics: MetricPoint[] }>>();
assertType<Equals<ScopeEvent['time'], bigint>>();
assertType<Equals<Span['traceId'], string>>();
assertType<Equals<ExportResult, { ok: true; dropped?: { count: number; reason: string } } | { ok: false; retryable: boolean; error: Error; retryAfterMs?: number }>>();
assertType<Equals<ReturnType<Pipeline['push']>, Promise<ConsumeResult>>>();
assertType<Equals<ReturnType<BatchConsumer['consume']>, ConsumeResult>>();
assertType<Equals<Parameters<typeof api.createPipeline>[0], ResolvedConfig | Record<string, unknown>>>();

// A user-defined receiver, processor and exporter type-check against the contract.
const myReceiver: ReceiverFactory<{ port: number }> = api.defineReceiver<{ port: number }>({
  type: 'my_receiver', kind: 'receiver', description: 'example', configSchema: {},
  create: (config, ctx: ReceiverContext): Receiver => ({
    start: async () => void ctx.consumer.consume(api.emptyBatch()),
    shutdown: async () => void config.port,
  }),
});
const myProcessor: ProcessorFactory = api.defineProcessor<Record<string, never>>({
  type: 'my_processor', kind: 'processor', description: 'example', configSchema: {}, mutatesData: false,
  create: (): Processor => ({ operator: (source) => source }),
});
const myExporter = api.defineExporter<Record<string, never>>({
  type: 'my_exporter', kind: 'exporter', description: 'example', configSchema: {},
  create: (): Exporter => ({ export: async () => ({ ok: true }), shutdown: async () => undefined }),
});
const factories: ComponentFactory[] = [myReceiver, myProcessor, myExporter];

describe('public API', () => {
  it('exports the documented runtime values', () => {
    for (const name of [
      'createPipeline', 'loadConfig', 'resolveConfig', 'registerComponent', 'defineReceiver', 'defineProcessor',
      'defineExporter', 'defineExtension', 'registerEventSchema', 'parseJsonLine', 'eventToJson', 'ScopeError',
      'createLogger', 'parseDuration', 'parseSize', 'emptyBatch', 'VERSION',
    ]) {
      assert.ok(name in api, name);
    }
    assert.equal(factories.length, 3);
  });

  it('resolves through the package exports map', async () => {
    const viaPackage = (await import('scope-pipeline')) as typeof api;
    assert.equal(typeof viaPackage.createPipeline, 'function');
    assert.equal(viaPackage.VERSION, api.VERSION);
  });
});
