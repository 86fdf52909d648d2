/**
 * Series (b) of the trace-port benchmark, run as its own process: the
 * beam_trace_port receiver decoding and mapping every frame into events, and a
 * sink that discards them. `node trace-port-receiver.js <port>`; "report\n" on
 * stdin prints `{"connects","frames","events","dropped"}`; end of stdin stops it.
 */
import { createInterface } from 'node:readline';
import { createPipeline, defineExporter, registerComponent, silentLogger } from '../src/index.js';

registerComponent(defineExporter<Record<string, never>>({
  type: 'discard',
  kind: 'exporter',
  description: 'Takes every batch and keeps nothing',
  configSchema: { type: 'object', additionalProperties: false, properties: {} },
  create: () => ({ export: async () => ({ ok: true }), shutdown: async () => undefined }),
}));

const pipeline = createPipeline({
  receivers: { beam_trace_port: { endpoint: `127.0.0.1:${process.argv[2]}` } },
  exporters: { discard: {} },
  service: { pipelines: { p: { receivers: ['beam_trace_port'], exporters: ['discard'] } }, telemetry: { metrics: { level: 'none' } } },
}, { logger: silentLogger });
await pipeline.start();

for await (const line of createInterface({ input: process.stdin })) {
  if (line !== 'report') break;
  const sum = (name: string): Promise<number> => pipeline.metrics.sum(name);
  process.stdout.write(JSON.stringify({
    connects: await sum('scope_beam_trace_port_connects'),
    frames: await sum('scope_beam_trace_port_frames'),
    events: await sum('scope_receiver_accepted_items'),
    dropped: await sum('scope_beam_trace_dropped_messages'),
  }) + '\n');
}
await pipeline.shutdown();
process.exit(0);
