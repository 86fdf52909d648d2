/**
 * The instruments the pipeline records for every component, so a new component
 * gets accepted/refused/dropped/sent/failed counts for free (the Collector's
 * processorhelper / exporterhelper). Counted per batch, never per item.
 */
import type { Attributes, Counter, Meter } from '@opentelemetry/api';

export interface PipelineInstruments {
  receiverAccepted: Counter<Attributes>;
  receiverRefused: Counter<Attributes>;
  receiverRefusedRequests: Counter<Attributes>;
  processorIncoming: Counter<Attributes>;
  processorOutgoing: Counter<Attributes>;
  processorDropped: Counter<Attributes>;
  exporterSent: Counter<Attributes>;
  exporterSendFailed: Counter<Attributes>;
}

const items = '{item}';

export function createPipelineInstruments(meter: Meter): PipelineInstruments {
  return {
    receiverAccepted: meter.createCounter('scope_receiver_accepted_items', {
      unit: items, description: 'Items a receiver handed to its pipelines.',
    }),
    receiverRefused: meter.createCounter('scope_receiver_refused_items', {
      unit: items, description: 'Items a receiver could not hand on, by reason (malformed, invalid_event, memory_limit, queue_full, …).',
    }),
    receiverRefusedRequests: meter.createCounter('scope_receiver_refused_requests', {
      unit: '{request}', description: 'Requests a receiver turned away before reading them (the pipeline was pushing back), by reason; their senders retry.',
    }),
    processorIncoming: meter.createCounter('scope_processor_incoming_items', {
      unit: items, description: 'Items that entered a processor.',
    }),
    processorOutgoing: meter.createCounter('scope_processor_outgoing_items', {
      unit: items, description: 'Items a processor passed on.',
    }),
    processorDropped: meter.createCounter('scope_processor_dropped_items', {
      unit: items, description: 'Items a processor dropped on purpose, by reason.',
    }),
    exporterSent: meter.createCounter('scope_exporter_sent_items', {
      unit: items, description: 'Items an exporter delivered.',
    }),
    exporterSendFailed: meter.createCounter('scope_exporter_send_failed_items', {
      unit: items, description: 'Items an exporter could not deliver, by reason (export_error, queue_full, shutdown).',
    }),
  };
}
