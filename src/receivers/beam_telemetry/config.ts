import type { JsonSchema } from '../../model/schemas.js';

export interface BeamTelemetryTlsConfig {
  cert_file: string;
  key_file: string;
  client_ca_file?: string;
}

export interface BeamTelemetryConfig {
  endpoint: string;
  auth?: { token: string };
  tls?: BeamTelemetryTlsConfig;
  max_connections: number;
  max_pending_hellos: number;
  hello_timeout: string;
  max_hello_bytes: string | number;
  idle_timeout: string;
  max_frame_bytes: string | number;
  max_buffered_bytes: string | number;
  max_value_bytes: number;
  max_attributes: number;
  max_attribute_bytes: string | number;
  term_syntax: 'erlang' | 'elixir';
  rate_limit: { events_per_second: number };
}

export const beamTelemetryConfigSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    endpoint: {
      type: 'string', format: 'endpoint', default: '127.0.0.1:4712',
      description: 'host:port to listen on for scope_beam forwarders (ScopeBeam.attach/1 in each BEAM node).',
    },
    auth: {
      type: 'object', additionalProperties: false, required: ['token'],
      description: 'When set, a node\'s hello must carry this token or the connection is refused.',
      properties: { token: { type: 'string', minLength: 1, description: 'The shared token (ScopeBeam.attach(token: …)).' } },
    },
    tls: {
      type: 'object', additionalProperties: false, required: ['cert_file', 'key_file'],
      description: 'Serve TLS instead of plain TCP (forwarders attach with tls: [cacertfile: …]); without it the protocol is plaintext.',
      properties: {
        cert_file: { type: 'string', minLength: 1, description: 'PEM certificate chain file of the receiver.' },
        key_file: { type: 'string', minLength: 1, description: 'PEM private key file.' },
        client_ca_file: {
          type: 'string', minLength: 1,
          description: 'PEM CA file: when set, a forwarder must present a certificate it signed (mutual TLS, ScopeBeam.attach(tls: [certfile: …, keyfile: …])); a failed handshake is closed and counted (tls_handshake).',
        },
      },
    },
    max_connections: {
      type: 'integer', minimum: 1, default: 1024,
      description: 'Forwarders (connections past their hello) held at once; a hello beyond it is refused with a reason and counted (too_many_connections).',
    },
    max_pending_hellos: {
      type: 'integer', minimum: 1, default: 64,
      description: 'Connections that have not sent their hello yet, held at once (apart from max_connections); when one more arrives the oldest of them is closed and counted (too_many_connections), so idle sockets can never lock forwarders out.',
    },
    hello_timeout: {
      type: 'string', format: 'duration', default: '5s',
      description: 'Time a new connection has to send its hello (TLS handshake included); then it is closed and counted (hello_timeout). 0 turns the deadline off (max_pending_hellos still holds).',
    },
    max_hello_bytes: {
      type: ['string', 'integer'], minimum: 64, format: 'size', default: '4KiB',
      description: 'Largest first frame (the hello) accepted; nothing else is read before it. A larger one closes the connection, counted (hello_too_large); a hello that would inflate or decode beyond it counts as term_limit.',
    },
    idle_timeout: {
      type: 'string', format: 'duration', default: '2m',
      description: 'A forwarder that sends nothing for this long (they send scope_keepalive every 30 s when idle) is closed and counted (idle_timeout); 0 never. Time the receiver is not reading because the pipeline pushes back does not count.',
    },
    max_frame_bytes: {
      type: ['string', 'integer'], minimum: 6, format: 'size', default: '1MiB',
      description: 'Largest frame accepted, and what a compressed term may inflate to (more is term_limit: skipped and counted). A larger frame makes the connection unusable: it is closed and counted. Per connection, at most one incomplete frame is held.',
    },
    max_buffered_bytes: {
      type: ['string', 'integer'], minimum: 1024, format: 'size', default: '64MiB',
      description: 'Bytes of incomplete frames held across all connections; the connection whose frame would take the total over it is closed and counted (buffer_limit).',
    },
    max_value_bytes: {
      type: 'integer', minimum: 16, default: 1024,
      description: 'Metadata values that are not plain data (tuples, references, funs) are rendered (see term_syntax) and cut to this many characters.',
    },
    max_attributes: {
      type: 'integer', minimum: 1, default: 128,
      description: 'Attributes per event or metric point (measurements counts as one, and holds at most this many); the rest are dropped, counted in scope_beam_telemetry_dropped_attributes and noted on the item as scope.attributes.dropped.',
    },
    max_attribute_bytes: {
      type: ['string', 'integer'], minimum: 256, format: 'size', default: '64KiB',
      description: 'Bytes of attribute keys and values per event or metric point (text and bytes by length, other values 8, nested ones included); attributes beyond are dropped and counted as for max_attributes.',
    },
    term_syntax: {
      type: 'string', enum: ['erlang', 'elixir'], default: 'erlang',
      description: 'How metadata values that are not plain data are written: erlang as io_lib:format("~0tp") prints them, elixir as inspect/2 does. Pids of another node carry its name (<cli@host.98.0>) in both.',
    },
    rate_limit: {
      type: 'object', additionalProperties: false, default: {},
      description: 'Per connection: events beyond this rate are dropped and counted (reason rate_limited), so one noisy node cannot crowd out the others.',
      properties: {
        events_per_second: { type: 'integer', minimum: 1, default: 20_000, description: 'Sustained events per second per connection (bursts of one second\'s worth pass).' },
      },
    },
  },
};
