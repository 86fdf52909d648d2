/**
 * The graph: receivers fan in to pipelines, each pipeline is an RxJS chain of
 * processors, and pipelines fan out to shared exporter queues.
 */
import type { Attributes } from '@opentelemetry/api';
import { Subject, tap, type Observable, type Subscription } from 'rxjs';
import type { BatchConsumer, ConsumeResult, Extension, Processor, Refusal } from '../component/types.js';
import type { EventSchemaRegistry } from '../model/schemas.js';
import { batchSize, type Batch } from '../model/types.js';
import type { Logger, ProblemReporter } from '../util/logger.js';
import type { SendingQueue } from './exporter_queue.js';
import { collectDurability } from './disk_queue/durability.js';
import type { PipelineInstruments } from './metrics.js';

export interface ProcessorNode {
  id: string;
  processor: Processor;
  mutatesData: boolean;
}

/** One `service.pipelines.<name>`: its input subject, processors and exporter queues. */
export class PipelineNode {
  readonly input = new Subject<Batch>();
  readonly mutatesData: boolean;
  private subscription?: Subscription;
  private completion?: Promise<void>;

  constructor(
    readonly name: string,
    readonly processors: readonly ProcessorNode[],
    readonly exporters: readonly SendingQueue[],
    private readonly instruments: PipelineInstruments,
    private readonly logger: Logger,
    private readonly onFailure: (reason: string) => void,
    /** Extensions that look at the data (see Extension.observe). */
    private readonly observers: readonly Extension[] = [],
  ) {
    this.mutatesData = processors.some((p) => p.mutatesData);
  }

  private chain(): Observable<Batch> {
    let stream: Observable<Batch> = this.input;
    for (const node of this.processors) {
      const attrs: Attributes = { processor: node.id, pipeline: this.name };
      stream = stream.pipe(
        tap((b) => this.instruments.processorIncoming.add(batchSize(b), attrs)),
        node.processor.operator,
        tap((b) => this.instruments.processorOutgoing.add(batchSize(b), attrs)),
      );
    }
    return stream;
  }

  /** Subscribes the chain to the exporter queues (processors never subscribe themselves). */
  connect(): void {
    if (this.subscription) return;
    this.completion = new Promise((resolve) => {
      this.subscription = this.chain().subscribe({
        next: (batch) => {
          if (batchSize(batch) === 0) return;
          for (const q of this.exporters) q.enqueue(batch);
          for (const o of this.observers) o.observe?.(batch);
        },
        error: (error: unknown) => {
          // A processor broke its stream: nothing more can flow through this pipeline.
          const message = error instanceof Error ? error.message : String(error);
          this.logger.error('pipeline stream failed; this pipeline no longer carries data', { pipeline: this.name, error: message });
          this.onFailure(`pipeline ${this.name} failed: ${message}`);
          resolve();
        },
        complete: () => resolve(),
      });
    });
  }

  /** Asks each processor's admission check (memory_limiter); the first refusal wins. */
  admit(batch: Batch): Refusal | null {
    for (const node of this.processors) {
      const refusal = node.processor.admit?.(batch);
      if (refusal) return refusal;
    }
    return null;
  }

  ready(): boolean {
    return this.exporters.every((q) => q.ready());
  }

  async whenReady(): Promise<void> {
    while (!this.ready()) await Promise.all(this.exporters.map((q) => q.whenReady()));
  }

  /** Completes the input so processors flush, and waits for the chain to finish. */
  async close(): Promise<void> {
    this.input.complete();
    await this.completion;
  }
}

const MAX_DESCRIBED_REJECTIONS = 5;

/** What a receiver pushes into: validation, admission, fan-out to its pipelines, counting. */
/** What admission checks are asked with when no batch exists yet (memory_limiter looks at memory, not the batch). */
const EMPTY_BATCH: Batch = { events: [], spans: [], metrics: [] };

export class ReceiverConsumer implements BatchConsumer {
  private readonly attrs: Attributes;
  private closed = false;

  constructor(
    private readonly receiverId: string,
    private readonly pipelines: readonly PipelineNode[],
    private readonly instruments: PipelineInstruments,
    /** Null for receivers whose events are valid by construction (see ReceiverFactory). */
    private readonly schemas: EventSchemaRegistry | null,
    private readonly problems: ProblemReporter,
  ) {
    this.attrs = { receiver: receiverId };
  }

  /** After shutdown begins, batches are refused (reason shutdown) instead of pushed into completed subjects. */
  close(): void {
    this.closed = true;
  }

  countRefused(count: number, reason: string): void {
    if (count > 0) this.instruments.receiverRefused.add(count, { ...this.attrs, reason });
  }

  refusalNow(): Refusal | null {
    const refusal: Refusal | null = this.closed
      ? { reason: 'shutdown', retryable: false }
      : !this.ready()
        ? { reason: 'queue_full', retryable: true }
        : this.pipelines.reduce<Refusal | null>((found, p) => found ?? p.admit(EMPTY_BATCH), null);
    if (refusal) this.instruments.receiverRefusedRequests.add(1, { ...this.attrs, reason: refusal.reason });
    return refusal;
  }

  private refuse(batch: Batch, refusal: Refusal): ConsumeResult {
    this.countRefused(batchSize(batch), refusal.reason);
    return { status: 'refused', ...refusal };
  }

  consume(input: Batch): ConsumeResult {
    if (this.closed) return this.refuse(input, { reason: 'shutdown', retryable: false });
    let batch = input;
    const rejections: string[] = [];
    let rejected = 0;
    const schemas = this.schemas;
    if (schemas && batch.events.length > 0) {
      let valid: typeof batch.events | undefined;
      for (let i = 0; i < batch.events.length; i++) {
        const event = batch.events[i];
        const problem = schemas.validate(event);
        if (problem) {
          valid ??= batch.events.slice(0, i);
          rejected++;
          const text = `event ${String(event.id)} (${String(event.type)}): ${problem.schema} ${problem.path}: ${problem.message}`;
          if (rejections.length < MAX_DESCRIBED_REJECTIONS) rejections.push(text);
          this.problems.report('invalid_event', 'invalid event rejected', { receiver: this.receiverId, problem: text });
        } else if (valid) {
          valid.push(event);
        }
      }
      if (valid) {
        batch = { ...batch, events: valid };
        this.countRefused(rejected, 'invalid_event');
      }
    }
    const n = batchSize(batch);
    if (n === 0) return { status: 'accepted', acceptedItems: 0, rejectedItems: rejected, rejections };

    if (!this.ready()) return this.refuse(batch, { reason: 'queue_full', retryable: true });
    for (const p of this.pipelines) {
      const refusal = p.admit(batch);
      if (refusal) return this.refuse(batch, refusal);
    }
    const fanOut = this.pipelines.length > 1;
    const durable = collectDurability(() => {
      for (const p of this.pipelines) p.input.next(fanOut && p.mutatesData ? structuredClone(batch) : batch);
    });
    this.instruments.receiverAccepted.add(n, this.attrs);
    return { status: 'accepted', acceptedItems: n, rejectedItems: rejected, rejections, ...(durable ? { durable } : {}) };
  }

  ready(): boolean {
    return this.pipelines.every((p) => p.ready());
  }

  async whenReady(): Promise<void> {
    while (!this.closed && !this.ready()) await Promise.all(this.pipelines.map((p) => p.whenReady()));
  }
}
