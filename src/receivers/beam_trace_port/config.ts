import type { JsonSchema } from '../../model/schemas.js';

export interface BeamTracePortConfig {
  endpoint: string | string[];
  max_frame_bytes: string | number;
  max_message_bytes: number;
  max_batch_items: number;
  read_ahead: string | number;
  term_syntax: 'erlang' | 'elixir';
  exclude_processes: Array<'shell' | 'tracer'>;
  reconnect: { initial_interval: string; max_interval: string };
}

export const beamTracePortConfigSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    endpoint: {
      type: ['string', 'array'],
      items: { type: 'string', format: 'endpoint' },
      minItems: 1,
      format: 'endpoint',
      default: '127.0.0.1:4711',
      description: 'host:port of a BEAM node\'s IP trace port (dbg:trace_port(ip, Port) or ScopeBeam.Tracer), or a list of them: one connection per node.',
    },
    max_frame_bytes: {
      type: ['string', 'integer'], minimum: 6, format: 'size', default: '16MiB',
      description: 'Largest frame accepted; a larger one means the stream is not a trace port (or is hostile): the connection is closed, counted and reopened. Also what a compressed term may inflate to (more is counted as term_limit and skipped).',
    },
    max_message_bytes: {
      type: 'integer', minimum: 16, default: 1024,
      description: 'Rendered Erlang terms (messages, arguments, return values, exit reasons) are cut to this many characters, ending in "...".',
    },
    term_syntax: {
      type: 'string', enum: ['erlang', 'elixir'], default: 'erlang',
      description: 'How Erlang terms are written in attributes: erlang as io_lib:format("~0tp") prints them (<<"text">>, "charlist", #{k => v}), elixir as inspect/2 does ("text", ~c"charlist", %{k: v}, %Mod{}). Pids, ports and refs of another node carry its name (<cli@host.98.0>) in both.',
    },
    exclude_processes: {
      type: 'array', items: { type: 'string', enum: ['shell', 'tracer'] }, uniqueItems: true, default: [],
      description: 'Leave out the events of these processes: shell (the Erlang shell and IEx processes typing commands into a traced node) and tracer (dbg, ScopeBeam.Tracer). Known from spawns and from ScopeBeam.Tracer\'s process snapshot; counted in scope_beam_trace_excluded_events.',
    },
    max_batch_items: {
      type: 'integer', minimum: 1, default: 8192,
      description: 'Events handed on per batch (a batch is also handed on at the end of every chunk read from the socket).',
    },
    read_ahead: {
      type: ['string', 'integer'], minimum: 0, format: 'size', default: '64MiB',
      description: 'Bytes read from the socket and not yet decoded, at most (per connection): the socket is read as fast as the node writes while decoding, the processors and the exporters catch up, so a burst the pipeline cannot follow at once is taken whole instead of dropped by the node\'s driver. Past it reading pauses (the driver queues, then drops, counted). 0: decode each chunk as it is read. Behind a disk sending queue it is 0, so that nothing read is lost to a kill.',
    },
    reconnect: {
      type: 'object', additionalProperties: false, default: {},
      description: 'Reconnection after the node goes away or the connection fails: exponential backoff with jitter.',
      properties: {
        initial_interval: { type: 'string', format: 'duration', default: '100ms', description: 'First wait before reconnecting.' },
        max_interval: { type: 'string', format: 'duration', default: '5s', description: 'Longest wait between attempts.' },
      },
    },
  },
};
