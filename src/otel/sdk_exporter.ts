/**
 * An exporter over the OpenTelemetry SDK's OTLP exporters whose modules load
 * when it starts, not when the component registry is imported: the SDK
 * exporters with otlp-transformer, otlp-exporter-base and this project's
 * ReadableSpan mapping are about 125 modules and 10–15 MiB of RSS, which a
 * daemon without an otlp or otlp_http exporter never loads.
 */
import type { Exporter } from '../component/types.js';
import type { SdkExporters } from './export.js';

/** `load` imports the SDK exporter modules and builds the three exporters; it runs once, in start() (or the first export). */
export function lazySdkExporter(load: () => Promise<SdkExporters>): Exporter {
  let loading: Promise<[SdkExporters, typeof import('./export.js')]> | undefined;
  const ready = (): Promise<[SdkExporters, typeof import('./export.js')]> => (loading ??= Promise.all([load(), import('./export.js')]));
  let stopped: Promise<void> | undefined;
  return {
    start: async () => {
      await ready();
    },
    export: async (batch) => {
      const [exporters, { exportBatch }] = await ready();
      return exportBatch(batch, exporters);
    },
    // Never started: nothing was loaded, nothing to close. A load that failed has nothing to close either.
    shutdown: () => (stopped ??= loading === undefined
      ? Promise.resolve()
      : loading.then(
        ([e]) => Promise.all([e.spans.shutdown(), e.logs.shutdown(), e.metrics.shutdown()]).then(() => undefined),
        () => undefined,
      )),
  };
}
