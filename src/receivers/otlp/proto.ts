/**
 * The OTLP message types, from the project's own .proto definitions
 * (src/receivers/otlp/proto, written from the opentelemetry-proto v1.x
 * schema), loaded once with protobufjs.
 */
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';

const PROTO_DIR = fileURLToPath(new URL('../../../../src/receivers/otlp/proto/', import.meta.url));

export type Signal = 'traces' | 'logs' | 'metrics';

export interface OtlpTypes {
  request: Record<Signal, protobuf.Type>;
  response: Record<Signal, protobuf.Type>;
  /** google.rpc.Status, the body of OTLP/HTTP error responses. */
  status: protobuf.Type;
}

let loaded: OtlpTypes | undefined;

export function otlpTypes(): OtlpTypes {
  if (loaded) return loaded;
  const root = protobuf.loadSync(['trace_service.proto', 'logs_service.proto', 'metrics_service.proto'].map((f) => PROTO_DIR + f));
  const status = new protobuf.Type('Status')
    .add(new protobuf.Field('code', 1, 'int32'))
    .add(new protobuf.Field('message', 2, 'string'));
  new protobuf.Root().define('google.rpc').add(status);
  const t = (name: string): protobuf.Type => root.lookupType(name);
  loaded = {
    request: {
      traces: t('opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest'),
      logs: t('opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest'),
      metrics: t('opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest'),
    },
    response: {
      traces: t('opentelemetry.proto.collector.trace.v1.ExportTraceServiceResponse'),
      logs: t('opentelemetry.proto.collector.logs.v1.ExportLogsServiceResponse'),
      metrics: t('opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceResponse'),
    },
    status,
  };
  return loaded;
}
