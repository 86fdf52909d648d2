/**
 * Building and running a configured pipeline: create every component from
 * validated config (buildable without listening anywhere), then start
 * exporters → processors → receivers, and shut down in the other order.
 */
import { setMaxListeners } from 'node:events';
import type { AddressInfo } from 'node:net';
import { registry as defaultRegistry, type ComponentRegistry } from '../component/registry.js';
import type { ExporterSettings } from '../component/exporter_settings.js';
import type {
  ComponentContext, ComponentKind, ConsumeResult, Exporter, Extension, Receiver,
} from '../component/types.js';
import { resolveConfig } from '../config/load.js';
import { parseComponentId, type ResolvedConfig } from '../config/types.js';
import { parseDuration } from '../config/units.js';
import { eventSchemas as defaultSchemas, type EventSchemaRegistry } from '../model/schemas.js';
import type { Batch } from '../model/types.js';
import { ScopeError } from '../util/errors.js';
import { createLogger, ProblemReporter, type Logger } from '../util/logger.js';
import { VERSION } from '../version.js';
import { ExporterQueue, type SendingQueue } from './exporter_queue.js';
import { DiskExporterQueue } from './disk_queue/disk_queue.js';
import { PipelineNode, ReceiverConsumer, type ProcessorNode } from './graph.js';
import { createPipelineInstruments } from './metrics.js';
import { SelfTelemetry, type PipelineMetrics } from './telemetry.js';

export interface CreatePipelineOptions {
  /** Defaults to a logger on stderr at `service.telemetry.logs.level`. */
  logger?: Logger;
  registry?: ComponentRegistry;
  eventSchemas?: EventSchemaRegistry;
  /** Environment for `${env:VAR}` when the config is a plain object. */
  env?: NodeJS.ProcessEnv;
}

export interface ShutdownResult {
  /** True when every receiver stopped and every exporter queue emptied within the deadline. */
  drained: boolean;
}

/** A receiver whose source is the library API (the built-in `push` receiver). */
export interface PushTarget {
  push(batch: Batch): Promise<ConsumeResult>;
}

function isPushTarget(r: Receiver): r is Receiver & PushTarget {
  return typeof (r as Partial<PushTarget>).push === 'function';
}

export interface Pipeline {
  readonly config: ResolvedConfig;
  readonly metrics: PipelineMetrics;
  /** Where /metrics and /healthz listen, once started (undefined with `level: none`). */
  readonly telemetryAddress: AddressInfo | undefined;
  start(): Promise<void>;
  /** Drains within `service.shutdown_timeout`. Safe without start() and when called twice. */
  shutdown(): Promise<ShutdownResult>;
  /**
   * Hands a batch to a `push` receiver (default id `push`): waits while the
   * pipeline is pushing back, then returns whether it was accepted.
   */
  push(batch: Batch, receiverId?: string): Promise<ConsumeResult>;
}

type State = 'built' | 'starting' | 'running' | 'stopping' | 'stopped';

class RunningPipeline implements Pipeline {
  readonly config: ResolvedConfig;
  private readonly telemetry: SelfTelemetry;
  private readonly logger: Logger;
  private readonly receivers = new Map<string, { receiver: Receiver; consumer: ReceiverConsumer }>();
  private readonly pipelines: PipelineNode[] = [];
  private readonly exporters = new Map<string, { exporter: Exporter; queue: SendingQueue }>();
  private readonly extensions = new Map<string, Extension>();
  private readonly problemReporters: ProblemReporter[] = [];
  private state: State = 'built';
  private shutdownPromise?: Promise<ShutdownResult>;
  private address?: AddressInfo;

  constructor(config: unknown, options: CreatePipelineOptions) {
    const registry = options.registry ?? defaultRegistry;
    this.config = resolveConfig(config, { registry, env: options.env });
    this.logger = options.logger ?? createLogger({ level: this.config.service.telemetry.logs.level });
    this.telemetry = new SelfTelemetry(this.logger, VERSION);
    const instruments = createPipelineInstruments(this.telemetry.meter);
    const schemas = options.eventSchemas ?? defaultSchemas;
    const { service } = this.config;

    const context = (id: string, kind: ComponentKind): ComponentContext => {
      const logger = this.logger.child({ component: id, kind });
      const problems = new ProblemReporter(logger);
      this.problemReporters.push(problems);
      return {
        id, kind, logger, problems,
        type: parseComponentId(id)?.type ?? id,
        meter: this.telemetry.meter,
        reportStatus: (status) => this.telemetry.setStatus(`${kind}:${id}`, status),
      };
    };

    for (const id of service.extensions) {
      const ctx = context(id, 'extension');
      const factory = registry.get('extension', ctx.type);
      if (factory) this.extensions.set(id, factory.create(this.config.extensions[id], ctx));
    }

    const exporterIds = new Set(Object.values(service.pipelines).flatMap((p) => p.exporters));
    for (const id of exporterIds) {
      const ctx = context(id, 'exporter');
      const factory = registry.get('exporter', ctx.type);
      if (!factory) continue; // validation guarantees it exists
      const config = this.config.exporters[id];
      const exporter = factory.create(config, ctx);
      const settings = config as unknown as ExporterSettings;
      const Queue = settings.sending_queue.storage === 'disk' ? DiskExporterQueue : ExporterQueue;
      const queue: SendingQueue = new Queue(id, exporter, settings, instruments, ctx.logger, ctx.problems, ctx.reportStatus, this.telemetry.meter);
      this.exporters.set(id, { exporter, queue });
    }

    const pipelinesByReceiver = new Map<string, PipelineNode[]>();
    for (const [name, definition] of Object.entries(service.pipelines)) {
      const processors: ProcessorNode[] = definition.processors.map((id) => {
        const ctx = context(id, 'processor');
        const factory = registry.get('processor', ctx.type);
        if (!factory) throw new ScopeError('CONFIG_INVALID', `unknown processor ${id}`);
        const attrs = { processor: id, pipeline: name };
        const processor = factory.create(this.config.processors[id], {
          ...ctx,
          pipeline: name,
          countDropped: (count, reason) => {
            if (count > 0) instruments.processorDropped.add(count, { ...attrs, reason });
          },
        });
        return { id, processor, mutatesData: factory.mutatesData };
      });
      const queues = definition.exporters.map((id) => (this.exporters.get(id) as { queue: SendingQueue }).queue);
      const observers = [...this.extensions.values()].filter((e) => typeof e.observe === 'function');
      const node = new PipelineNode(name, processors, queues, instruments, this.logger, (reason) =>
        this.telemetry.setStatus(`pipeline:${name}`, { healthy: false, reason }), observers,
      );
      this.pipelines.push(node);
      for (const r of definition.receivers) pipelinesByReceiver.set(r, [...(pipelinesByReceiver.get(r) ?? []), node]);
    }

    for (const [id, nodes] of pipelinesByReceiver) {
      const ctx = context(id, 'receiver');
      const factory = registry.get('receiver', ctx.type);
      if (!factory) continue;
      const consumer = new ReceiverConsumer(id, nodes, instruments, factory.eventsValidByConstruction ? null : schemas, ctx.problems);
      const receiver = factory.create(this.config.receivers[id], {
        ...ctx,
        consumer,
        countRefused: (count, reason) => consumer.countRefused(count, reason),
      });
      this.receivers.set(id, { receiver, consumer });
    }
  }

  get metrics(): PipelineMetrics {
    return this.telemetry;
  }

  get telemetryAddress(): AddressInfo | undefined {
    return this.address;
  }

  async start(): Promise<void> {
    if (this.state !== 'built') throw new ScopeError('PIPELINE_STATE', `start() called on a pipeline that is ${this.state}`);
    this.state = 'starting';
    try {
      const { metrics } = this.config.service.telemetry;
      if (metrics.level !== 'none') this.address = await this.telemetry.serve(metrics.endpoint);
      for (const [id, ext] of this.extensions) await this.startOne('extension', id, () => ext.start());
      for (const [id, { exporter }] of this.exporters) await this.startOne('exporter', id, () => exporter.start?.());
      // A disk queue recovers after its exporter started (parquet says what its files already hold), and replays.
      for (const [id, { queue }] of this.exporters) await this.startOne('exporter', id, () => queue.open());
      for (const p of this.pipelines) {
        for (const node of p.processors) await this.startOne('processor', node.id, () => node.processor.start?.());
        p.connect();
      }
      for (const [id, { receiver }] of this.receivers) await this.startOne('receiver', id, () => receiver.start());
    } catch (error) {
      await this.shutdown();
      throw error;
    }
    this.state = 'running';
    this.logger.info('pipeline started', {
      pipelines: this.pipelines.map((p) => p.name),
      receivers: [...this.receivers.keys()],
      exporters: [...this.exporters.keys()],
    });
  }

  private async startOne(kind: ComponentKind, id: string, start: () => Promise<void> | void): Promise<void> {
    try {
      await start();
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      throw new ScopeError('PIPELINE_STATE', `${kind} ${id} failed to start: ${message}`);
    }
  }

  shutdown(): Promise<ShutdownResult> {
    this.shutdownPromise ??= this.doShutdown();
    return this.shutdownPromise;
  }

  private async doShutdown(): Promise<ShutdownResult> {
    this.state = 'stopping';
    const timeoutMs = parseDuration(this.config.service.shutdown_timeout);
    const startedAt = Date.now();
    // Each stage has its own budget, so a receiver that cannot close (a client holding a socket) never eats the
    // exporters' drain time: receivers get a quarter of shutdown_timeout, processors the next sixth, exporters the rest.
    // Exporters stop retrying a little before the end, so the last attempt of a batch in flight is counted
    // (reason shutdown) and exporter.shutdown() can count and clean up what it holds, all within the timeout.
    const grace = Math.min(1_500, timeoutMs * 0.1);
    const stageEnds = {
      receivers: startedAt + timeoutMs * 0.25, processors: startedAt + timeoutMs * (0.25 + 1 / 6),
      drain: startedAt + timeoutMs - grace, exporters: startedAt + timeoutMs,
    };
    // Ref'd timers, unlike AbortSignal.timeout(): shutdown must finish even when nothing else keeps the loop alive.
    const stageSignal = (endsAt: number): { signal: AbortSignal; done(): void } => {
      const controller = new AbortController();
      // Every component of the stage waits on this one deadline at once, by design: no leak to warn of.
      setMaxListeners(0, controller.signal);
      const timer = setTimeout(() => controller.abort(), Math.max(0, endsAt - Date.now()));
      return { signal: controller.signal, done: () => clearTimeout(timer) };
    };
    let drained = true;
    const bounded = async (what: string, deadline: AbortSignal, lossIfLate: boolean, work: () => Promise<unknown> | unknown): Promise<void> => {
      // One listener per component on a shared deadline, removed when it is done (else Node warns past 10).
      let onLate: (() => void) | undefined;
      try {
        const result = await Promise.race([
          Promise.resolve().then(work).then(() => 'done' as const),
          new Promise<'late'>((resolve) => {
            if (deadline.aborted) resolve('late');
            onLate = () => resolve('late');
            deadline.addEventListener('abort', onLate, { once: true });
          }),
        ]);
        if (result === 'late') {
          if (lossIfLate) drained = false;
          this.logger.warn('shutdown deadline passed', { component: what, timeout: this.config.service.shutdown_timeout });
        }
      } catch (error) {
        if (lossIfLate) drained = false;
        this.logger.error('shutdown failed', { component: what, error: error instanceof Error ? error.message : String(error) });
      } finally {
        if (onLate) deadline.removeEventListener('abort', onLate);
      }
    };

    // 1. Receivers stop accepting. One that is late loses nothing by itself: its consumer is closed regardless,
    //    so what it still takes is refused (retryable), never acknowledged and dropped.
    const receivers = stageSignal(stageEnds.receivers);
    await Promise.all([...this.receivers].map(([id, { receiver }]) => bounded(`receiver ${id}`, receivers.signal, false, () => receiver.shutdown())));
    receivers.done();
    for (const { consumer } of this.receivers.values()) consumer.close();
    // 2. Processors flush: completing the input lets the batch processor emit what it holds.
    const processors = stageSignal(stageEnds.processors);
    await Promise.all(this.pipelines.map((p) => bounded(`pipeline ${p.name}`, processors.signal, true, () => p.close())));
    for (const p of this.pipelines) {
      for (const node of p.processors) await bounded(`processor ${node.id}`, processors.signal, true, () => node.processor.shutdown?.());
    }
    processors.done();
    // 3. Exporters drain their queues, then release: always with what is left of shutdown_timeout.
    const exporters = stageSignal(stageEnds.exporters);
    const drain = stageSignal(stageEnds.drain);
    await Promise.all([...this.exporters].map(([id, { exporter, queue }]) => bounded(`exporter ${id}`, exporters.signal, true, async () => {
      await queue.drain(drain.signal);
      if (queue.size > 0) drained = false;
      try {
        await exporter.shutdown();
      } finally {
        await queue.close();
      }
    })));
    for (const [id, ext] of this.extensions) await bounded(`extension ${id}`, exporters.signal, false, () => ext.shutdown());
    exporters.done();
    drain.done();
    for (const reporter of this.problemReporters) reporter.flush();
    await this.telemetry.shutdown();
    this.state = 'stopped';
    this.logger.info('pipeline stopped', { drained });
    return { drained };
  }

  async push(batch: Batch, receiverId = 'push'): Promise<ConsumeResult> {
    const entry = this.receivers.get(receiverId);
    if (!entry || !isPushTarget(entry.receiver)) {
      const pushable = [...this.receivers].filter(([, e]) => isPushTarget(e.receiver)).map(([id]) => id);
      throw new ScopeError('PUSH_TARGET', `no push receiver "${receiverId}" in any pipeline (push receivers: ${pushable.join(', ') || 'none; declare receivers: { push: {} } and list it in a pipeline'})`);
    }
    if (this.state !== 'running') throw new ScopeError('PIPELINE_STATE', `push() needs a running pipeline; it is ${this.state}`);
    return entry.receiver.push(batch);
  }
}

/** Builds every component from the config (YAML-loaded or a plain object) without starting anything. */
export function createPipeline(config: ResolvedConfig | Record<string, unknown>, options: CreatePipelineOptions = {}): Pipeline {
  return new RunningPipeline(config, options);
}
