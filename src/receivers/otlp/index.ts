import { defineReceiver } from '../../component/types.js';
import { otlpConfigSchema, validateOtlpConfig, type OtlpConfig } from './config.js';
import { OtlpReceiver } from './otlp.js';

export const otlpReceiver = defineReceiver<OtlpConfig>({
  type: 'otlp',
  kind: 'receiver',
  description: 'Receives OpenTelemetry traces, logs and metrics over OTLP/gRPC and OTLP/HTTP (protobuf and JSON)',
  stability: 'development',
  configSchema: otlpConfigSchema,
  validate: validateOtlpConfig,
  create: (config, ctx) => new OtlpReceiver(config, ctx),
});
