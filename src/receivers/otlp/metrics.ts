import type { Attributes, Counter, Meter, ObservableGauge } from '@opentelemetry/api';

export interface OtlpInstruments {
  truncated: Counter<Attributes>;
  refusedConnections: Counter<Attributes>;
  closedConnections: Counter<Attributes>;
  openConnections: ObservableGauge<Attributes>;
}

export function createOtlpInstruments(meter: Meter): OtlpInstruments {
  return {
    truncated: meter.createCounter('scope_receiver_truncated_attributes', {
      unit: '{attribute}',
      description: 'Attributes the receiver dropped (reason max_attributes_per_item; the item keeps the count in otel.dropped_attributes_count) or whose string/bytes value it cut (reason max_attribute_value_size).',
    }),
    refusedConnections: meter.createCounter('scope_receiver_refused_connections', {
      unit: '{connection}',
      description: 'Connections closed as they were accepted: max_connections, fd_limit (the process is near its open-file limit), emfile (accept failed: no file descriptor left), tls_handshake (no or an untrusted client certificate, a failed or too slow handshake).',
    }),
    closedConnections: meter.createCounter('scope_receiver_closed_connections', {
      unit: '{connection}',
      description: 'Open connections the receiver closed: header_timeout (no request headers within read_header_timeout), idle_timeout, handshake_timeout (gRPC: nothing sent within handshake_timeout), shutdown (still busy when the shutdown grace ended).',
    }),
    openConnections: meter.createObservableGauge('scope_receiver_open_connections', {
      unit: '{connection}',
      description: 'Connections open now, per protocol.',
    }),
  };
}
