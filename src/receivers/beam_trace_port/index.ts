import { defineReceiver } from '../../component/types.js';
import { BeamTracePortReceiver } from './beam_trace_port.js';
import { beamTracePortConfigSchema, type BeamTracePortConfig } from './config.js';

export const beamTracePortReceiver = defineReceiver<BeamTracePortConfig>({
  type: 'beam_trace_port',
  kind: 'receiver',
  description: 'Attaches to a live BEAM node through OTP\'s IP trace port and maps every trace message into events',
  stability: 'alpha',
  // Every event comes from mapping.ts's fixed table; the real-node tests check each against the schemas.
  eventsValidByConstruction: true,
  configSchema: beamTracePortConfigSchema,
  create: (config, ctx) => new BeamTracePortReceiver(config, ctx),
});
