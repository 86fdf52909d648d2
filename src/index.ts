/**
 * The public library API: everything an embedder needs, listed by name.
 * Anything not exported here is internal.
 */
export { createPipeline } from './pipeline/service.js';
export type { CreatePipelineOptions, Pipeline, PushTarget, ShutdownResult } from './pipeline/service.js';
export type { MetricReading, PipelineMetrics } from './pipeline/telemetry.js';

export { loadConfig, resolveConfig, readConfig, DEFAULT_CONFIG_PATH } from './config/load.js';
export type { LoadConfigOptions } from './config/load.js';
export { validateConfig, defaultConfig } from './config/validate.js';
export type { ResolvedConfig, PipelineDefinition, ServiceConfig, TelemetryConfig } from './config/types.js';
export { parseDuration, parseSize, parseEndpoint } from './config/units.js';

export { registerComponent, registry, ComponentRegistry } from './component/registry.js';
export { defineReceiver, defineProcessor, defineExporter, defineExtension } from './component/types.js';
export type {
  BatchConsumer,
  ComponentContext,
  ComponentFactory,
  ComponentKind,
  ComponentStatus,
  ConsumeResult,
  Exporter,
  ExporterContext,
  ExporterFactory,
  ExportResult,
  Extension,
  ExtensionContext,
  ExtensionFactory,
  Processor,
  ProcessorContext,
  ProcessorFactory,
  Receiver,
  ReceiverContext,
  ReceiverFactory,
  Refusal,
  Stability,
} from './component/types.js';
export type { ExporterSettings } from './component/exporter_settings.js';

export { emptyBatch, batchSize } from './model/types.js';
export type {
  AttributeValue,
  Attributes,
  Batch,
  EventSource,
  ExponentialBuckets,
  ExponentialHistogramValue,
  HistogramValue,
  SummaryValue,
  InstrumentationScope,
  MetricPoint,
  MetricType,
  ScopeEvent,
  Span,
  SpanEvent,
  SpanKind,
  SpanLink,
  StatusCode,
} from './model/types.js';
export { eventSchemas, registerEventSchema, EventSchemaRegistry, builtinEventSchemas } from './model/schemas.js';
export type { EventRejection, EventSchemaDefinition, JsonSchema } from './model/schemas.js';
export { parseJsonLine, eventToJson, spanToJson, metricToJson, DecodeError } from './model/jsonl.js';
export type { Item } from './model/jsonl.js';

export { ScopeError, ErrorCodes } from './util/errors.js';
export type { ErrorCode } from './util/errors.js';
export { createLogger, silentLogger, ProblemReporter } from './util/logger.js';
export type { Logger, LogLevel, LogFields } from './util/logger.js';
export { VERSION } from './version.js';
