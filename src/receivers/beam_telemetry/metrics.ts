import type { Attributes, Counter, Meter } from '@opentelemetry/api';

export interface BeamTelemetryInstruments {
  droppedAttributes: Counter<Attributes>;
}

export function createBeamTelemetryInstruments(meter: Meter): BeamTelemetryInstruments {
  return {
    droppedAttributes: meter.createCounter('scope_beam_telemetry_dropped_attributes', {
      unit: '{attribute}',
      description: 'Attributes of forwarded events and points dropped by max_attributes or max_attribute_bytes (reason); the item itself is kept, with scope.attributes.dropped.',
    }),
  };
}
