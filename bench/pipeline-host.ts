/**
 * A pipeline in its own process, for benchmarks that measure a receiver
 * without an exporter's cost: `node pipeline-host.js '<config JSON>'`, where
 * the config may use the `discard` exporter (takes every batch, keeps
 * nothing). "report\n" on stdin prints one JSON object: the sum of every
 * metric named on the command line after the config; end of stdin stops it.
 * Run it with the command's flags (--max-semi-space-size=64): it sizes the
 * young generation from the config as the command does.
 */
import { createInterface } from 'node:readline';
import { createPipeline, defineExporter, registerComponent, silentLogger } from '../src/index.js';
import { sizeYoungGeneration } from '../src/util/young_generation.js';

registerComponent(defineExporter<Record<string, never>>({
  type: 'discard',
  kind: 'exporter',
  description: 'Takes every batch and keeps nothing',
  configSchema: { type: 'object', additionalProperties: false, properties: {} },
  create: () => ({ export: async () => ({ ok: true }), shutdown: async () => undefined }),
}));

const [configJson, ...metricNames] = process.argv.slice(2);
const config = JSON.parse(configJson) as Record<string, unknown>;
// The young generation as the scope-pipeline command sizes it for this config.
sizeYoungGeneration(config);
const pipeline = createPipeline(config, { logger: silentLogger });
await pipeline.start();
process.stdout.write('ready\n');

for await (const line of createInterface({ input: process.stdin })) {
  if (line !== 'report') break;
  const sums = await Promise.all(metricNames.map(async (name) => [name, await pipeline.metrics.sum(name)] as const));
  process.stdout.write(JSON.stringify(Object.fromEntries(sums)) + '\n');
}
await pipeline.shutdown();
process.exit(0);
