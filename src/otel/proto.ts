/**
 * The OTLP message types, from the project's own .proto definitions
 * (src/otel/proto, written from the opentelemetry-proto v1.x
 * schema), loaded once with protobufjs.
 */
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';

const PROTO_DIR = fileURLToPath(new URL('../../../src/otel/proto/', import.meta.url));

export type Signal = 'traces' | 'logs' | 'metrics';

export interface OtlpTypes {
  request: Record<Signal, protobuf.Type>;
  response: Record<Signal, protobuf.Type>;
  /** google.rpc.Status, the body of OTLP/HTTP error responses and of gRPC's grpc-status-details-bin. */
  status: protobuf.Type;
  /** google.rpc.RetryInfo, the detail that makes RESOURCE_EXHAUSTED retryable for OTLP/gRPC clients. */
  retryInfo: protobuf.Type;
}

/** The few google.* messages OTLP error answers use, defined here by reflection (field numbers from their protos). */
function googleTypes(): { status: protobuf.Type; retryInfo: protobuf.Type } {
  const root = new protobuf.Root();
  const any = new protobuf.Type('Any').add(new protobuf.Field('typeUrl', 1, 'string')).add(new protobuf.Field('value', 2, 'bytes'));
  const duration = new protobuf.Type('Duration').add(new protobuf.Field('seconds', 1, 'int64')).add(new protobuf.Field('nanos', 2, 'int32'));
  root.define('google.protobuf').add(any).add(duration);
  const status = new protobuf.Type('Status')
    .add(new protobuf.Field('code', 1, 'int32'))
    .add(new protobuf.Field('message', 2, 'string'))
    .add(new protobuf.Field('details', 3, 'google.protobuf.Any', 'repeated'));
  const retryInfo = new protobuf.Type('RetryInfo').add(new protobuf.Field('retryDelay', 1, 'google.protobuf.Duration'));
  root.define('google.rpc').add(status).add(retryInfo);
  root.resolveAll();
  return { status, retryInfo };
}

let loaded: OtlpTypes | undefined;

export function otlpTypes(): OtlpTypes {
  if (loaded) return loaded;
  const root = protobuf.loadSync(['trace_service.proto', 'logs_service.proto', 'metrics_service.proto'].map((f) => PROTO_DIR + f));
  const { status, retryInfo } = googleTypes();
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
    retryInfo,
  };
  return loaded;
}
