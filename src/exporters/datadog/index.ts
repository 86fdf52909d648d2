import { defineExporter } from '../../component/types.js';
import { datadogExporterConfigSchema, type DatadogExporterConfig } from './config.js';
import { DatadogExporter } from './datadog.js';

export const datadogExporter = defineExporter<DatadogExporterConfig>({
  type: 'datadog',
  kind: 'exporter',
  description: 'Sends spans to a Datadog Agent (/v0.4/traces, msgpack) shaped as Datadog\'s own tracers send them',
  stability: 'alpha',
  configSchema: datadogExporterConfigSchema,
  create: (config, ctx) => {
    const exporter = new DatadogExporter(config, ctx);
    return {
      export: (batch) => exporter.export(batch),
      shutdown: async () => exporter.shutdown(),
    };
  },
});
