import { defineReceiver } from '../../component/types.js';
import { BeamTelemetryReceiver } from './beam_telemetry.js';
import { beamTelemetryConfigSchema, type BeamTelemetryConfig } from './config.js';

export const beamTelemetryReceiver = defineReceiver<BeamTelemetryConfig>({
  type: 'beam_telemetry',
  kind: 'receiver',
  description: 'Takes :telemetry events (Phoenix, Ecto, Broadway, …) from scope_beam forwarders in many BEAM nodes',
  stability: 'development',
  // telemetry.* events have no required fields beyond the envelope, which mapping.ts always fills.
  eventsValidByConstruction: true,
  configSchema: beamTelemetryConfigSchema,
  create: (config, ctx) => new BeamTelemetryReceiver(config, ctx),
});
