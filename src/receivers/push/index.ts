/** The receiver behind `pipeline.push(batch)`: its only source is the library API. */
import { defineReceiver, type ConsumeResult, type Receiver, type ReceiverContext } from '../../component/types.js';
import type { Batch } from '../../model/types.js';

class PushReceiver implements Receiver {
  private stopped = false;

  constructor(private readonly ctx: ReceiverContext) {}

  async start(): Promise<void> {}

  async shutdown(): Promise<void> {
    this.stopped = true;
  }

  async push(batch: Batch): Promise<ConsumeResult> {
    if (!this.stopped && !this.ctx.consumer.ready()) await this.ctx.consumer.whenReady();
    return this.ctx.consumer.consume(batch);
  }
}

export const pushReceiver = defineReceiver<Record<string, never>>({
  type: 'push',
  kind: 'receiver',
  description: 'Takes batches handed to pipeline.push() by a program that embeds the library',
  stability: 'beta',
  configSchema: { type: 'object', additionalProperties: false, properties: {} },
  create: (_config, ctx) => new PushReceiver(ctx),
});
