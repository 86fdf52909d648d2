/**
 * The component contract. A component type is one factory object; the pipeline
 * creates instances from validated config and hands each a context with
 * everything it needs. Components never import src/pipeline.
 */
import type { Meter } from '@opentelemetry/api';
import type { OperatorFunction } from 'rxjs';
import type { Batch } from '../model/types.js';
import type { Logger, ProblemReporter } from '../util/logger.js';
import type { JsonSchema } from '../model/schemas.js';

export type ComponentKind = 'receiver' | 'processor' | 'exporter' | 'extension';
export type Stability = 'development' | 'alpha' | 'beta' | 'stable';

/** A persistent failure makes /healthz answer 503 until the component reports healthy again. */
export type ComponentStatus = { healthy: true } | { healthy: false; reason: string };

export interface ComponentContext {
  /** The id as written in config: `type` or `type/name`. */
  id: string;
  type: string;
  kind: ComponentKind;
  logger: Logger;
  /** Logs the first of a repeated problem with its context, then summaries. */
  problems: ProblemReporter;
  /** For the component's own instruments (declared in its metrics.ts). */
  meter: Meter;
  reportStatus(status: ComponentStatus): void;
}

/** Why a batch was not taken, and whether offering it again later can succeed. */
export interface Refusal {
  reason: string;
  retryable: boolean;
  /** A hint for retryable refusals. */
  retryAfterMs?: number;
}

/**
 * `durable`: present when the batch went into at least one disk sending queue;
 * resolves once every such append is on disk (an Error when one failed: the
 * sender should retry). A receiver answers its client only after it.
 */
export type ConsumeResult =
  | { status: 'accepted'; acceptedItems: number; rejectedItems: number; rejections: string[]; durable?: Promise<Error | undefined> }
  | ({ status: 'refused' } & Refusal);

/** What a receiver hands its batches to. Synchronous, so a receiver can answer its client at once. */
export interface BatchConsumer {
  /**
   * Offers a batch. Invalid events are rejected one by one (counted, first few described);
   * a full queue or memory pressure refuses the whole batch.
   */
  consume(batch: Batch): ConsumeResult;
  /** False while downstream queues are above their high-water mark. */
  ready(): boolean;
  /**
   * What consume() would refuse any batch with right now (full queues, memory
   * over its limit), or null. Lets a receiver refuse a request before the
   * work of reading and decoding it; such a refusal is counted per request
   * (scope_receiver_refused_requests), as its items are not known.
   */
  refusalNow(): Refusal | null;
  /** Resolves when ready() turns true: receivers that can pause their source await this. */
  whenReady(): Promise<void>;
}

export interface ReceiverContext extends ComponentContext {
  consumer: BatchConsumer;
  /** Counts items lost before they became a batch (a malformed line or frame), by reason. */
  countRefused(count: number, reason: string): void;
}

export interface ProcessorContext extends ComponentContext {
  /** The pipeline this instance belongs to (processors are created per pipeline). */
  pipeline: string;
  /** Counts items this processor intentionally dropped, by reason. */
  countDropped(count: number, reason: string): void;
}

export type ExporterContext = ComponentContext;
export type ExtensionContext = ComponentContext;

export interface Receiver {
  start(): Promise<void>;
  /** Stops intake. Must work without start() and when called twice. */
  shutdown(): Promise<void>;
}

export interface Processor {
  /** Batch stream in, Batch stream out; flushes what it holds when its input completes. */
  operator: OperatorFunction<Batch, Batch>;
  /** Checked before a batch enters the pipeline: a refusal goes back to the receiver. */
  admit?(batch: Batch): Refusal | null;
  start?(): Promise<void>;
  /** Releases timers and resources after the stream completed. */
  shutdown?(): Promise<void>;
}

/** Which disk queue entry a batch is (exporters that keep what they took use it to say what is durable). */
export interface QueueReceipt {
  /** The queue's identity, made when its directory was created. */
  queue: string;
  seq: number;
}

/**
 * `dropped`: items of the batch this exporter cannot send at all (a signal it
 * does not carry); they are counted as send_failed with the reason given.
 * `retryAfterMs`: the backend's own Retry-After / RetryInfo, honoured by the retry loop.
 */
export type ExportResult =
  | { ok: true; dropped?: { count: number; reason: string } }
  | { ok: false; retryable: boolean; error: Error; retryAfterMs?: number };

export interface Exporter {
  start?(): Promise<void>;
  /**
   * Sends one batch. Must not throw and must not modify the batch; queueing and retry are the pipeline's.
   * `receipt` comes with batches from a disk sending queue.
   */
  export(batch: Batch, receipt?: QueueReceipt): Promise<ExportResult>;
  /**
   * For an exporter that keeps batches after export() answered (parquet holds
   * rows until their file is renamed into place). Returns the seq through
   * which everything from `queue` was durable at the end of the last run
   * (the queue does not send those again), and calls `committed` whenever
   * that seq moves on; the disk queue releases its entries only then.
   */
  trackCommits?(queue: string, committed: (through: number) => void): Promise<number>;
  /** Flushes and releases. Must work without start() and when called twice. */
  shutdown(): Promise<void>;
}

export interface Extension {
  start(): Promise<void>;
  shutdown(): Promise<void>;
  /**
   * Extensions that look at the data (the inspector's live window) get every
   * batch a pipeline's processors passed on, synchronously, before the
   * exporters' queues. Must not modify it nor throw.
   */
  observe?(batch: Batch): void;
}

interface FactoryBase {
  /** The config key, lower_snake_case. */
  type: string;
  /** One line, shown by `scope-pipeline components`. */
  description: string;
  stability?: Stability;
  /** JSON Schema of the config, with defaults and a description per option (the README's text). */
  configSchema: JsonSchema;
}

/**
 * Cross-field rules that a schema cannot say. Returns problems as
 * `option.path: message`; the pipeline prefixes the component's path.
 * Method syntax keeps factories with specific config types assignable to the registry.
 */
export interface ReceiverFactory<C = unknown> extends FactoryBase {
  kind: 'receiver';
  /**
   * True when the receiver builds every event itself from a fixed mapping (not
   * from event JSON it was sent), and its tests check that mapping against the
   * schema registry. The pipeline then skips the per-event schema check, which
   * costs about a third of the trace-port hot path. Receivers that pass on
   * events shaped by their clients (jsonl, push, OTLP logs) leave it unset.
   */
  eventsValidByConstruction?: boolean;
  validate?(config: C): string[];
  create(config: C, context: ReceiverContext): Receiver;
}

export interface ProcessorFactory<C = unknown> extends FactoryBase {
  kind: 'processor';
  /** True when the processor changes batches in place: fan-out then gives it its own copy. */
  mutatesData: boolean;
  /**
   * True when the processor keeps items it was given after the call that
   * gave them (batch, tail sampling), so they reach the exporters' queues
   * later. A pipeline with a disk sending queue cannot have one: the
   * receiver's acknowledgment would come before the items are durable.
   */
  holdsItems?(config: C): boolean;
  validate?(config: C): string[];
  create(config: C, context: ProcessorContext): Processor;
}

export interface ExporterFactory<C = unknown> extends FactoryBase {
  kind: 'exporter';
  validate?(config: C): string[];
  create(config: C, context: ExporterContext): Exporter;
}

export interface ExtensionFactory<C = unknown> extends FactoryBase {
  kind: 'extension';
  validate?(config: C): string[];
  create(config: C, context: ExtensionContext): Extension;
}

export type ComponentFactory = ReceiverFactory | ProcessorFactory | ExporterFactory | ExtensionFactory;

/** Identity helpers that infer a factory's config type from its create(). */
export const defineReceiver = <C>(f: ReceiverFactory<C>): ReceiverFactory<C> => f;
export const defineProcessor = <C>(f: ProcessorFactory<C>): ProcessorFactory<C> => f;
export const defineExporter = <C>(f: ExporterFactory<C>): ExporterFactory<C> => f;
export const defineExtension = <C>(f: ExtensionFactory<C>): ExtensionFactory<C> => f;
