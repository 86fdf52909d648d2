/** Every built-in component type: adding one is one line here and its own folder. */
import type { ComponentFactory } from './types.js';
import { datadogExporter } from '../exporters/datadog/index.js';
import { debugExporter } from '../exporters/debug/index.js';
import { otlpExporter } from '../exporters/otlp/index.js';
import { otlpHttpExporter } from '../exporters/otlp_http/index.js';
import { parquetExporter } from '../exporters/parquet/index.js';
import { inspectorExtension } from '../extensions/inspector/index.js';
import { anomalyProcessor } from '../processors/anomaly/index.js';
import { batchProcessor } from '../processors/batch/index.js';
import { correlationProcessor } from '../processors/correlation/index.js';
import { filterProcessor } from '../processors/filter/index.js';
import { memoryLimiterProcessor } from '../processors/memory_limiter/index.js';
import { privacyProcessor } from '../processors/privacy/index.js';
import { samplingProcessor } from '../processors/sampling/index.js';
import { beamTelemetryReceiver } from '../receivers/beam_telemetry/index.js';
import { beamTracePortReceiver } from '../receivers/beam_trace_port/index.js';
import { jsonlReceiver } from '../receivers/jsonl/index.js';
import { otlpReceiver } from '../receivers/otlp/index.js';
import { pushReceiver } from '../receivers/push/index.js';

export const builtinFactories: readonly ComponentFactory[] = [
  beamTracePortReceiver,
  beamTelemetryReceiver,
  jsonlReceiver,
  otlpReceiver,
  pushReceiver,
  anomalyProcessor,
  batchProcessor,
  correlationProcessor,
  filterProcessor,
  memoryLimiterProcessor,
  privacyProcessor,
  samplingProcessor,
  datadogExporter,
  debugExporter,
  otlpExporter,
  otlpHttpExporter,
  parquetExporter,
  inspectorExtension,
];
