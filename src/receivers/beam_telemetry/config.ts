import type { JsonSchema } from '../../model/schemas.js';

export interface BeamTelemetryConfig {
  endpoint: string;
  auth?: { token: string };
  max_connections: number;
  max_frame_bytes: string | number;
  max_value_bytes: number;
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
    max_connections: { type: 'integer', minimum: 1, default: 1024, description: 'Connections held at once; more are closed on arrival and counted.' },
    max_frame_bytes: {
      type: ['string', 'integer'], minimum: 6, format: 'size', default: '1MiB',
      description: 'Largest frame accepted; a larger one makes the connection unusable: it is closed and counted.',
    },
    max_value_bytes: {
      type: 'integer', minimum: 16, default: 1024,
      description: 'Metadata values that are not plain data (tuples, references, funs) are rendered (see term_syntax) and cut to this many characters.',
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
