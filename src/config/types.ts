/** The configuration document after expansion, validation and defaults. */
import type { ComponentKind } from '../component/types.js';
import type { LogLevel } from '../util/logger.js';

export interface PipelineDefinition {
  receivers: string[];
  processors: string[];
  exporters: string[];
}

export interface TelemetryConfig {
  metrics: {
    /** `none` turns the /metrics and /healthz server off; instruments still count. */
    level: 'none' | 'normal' | 'detailed';
    endpoint: string;
  };
  logs: { level: LogLevel };
}

export interface ServiceConfig {
  extensions: string[];
  pipelines: Record<string, PipelineDefinition>;
  telemetry: TelemetryConfig;
  shutdown_timeout: string;
  /** The command's V8 young generation: large (64 MiB semi-spaces), held (8 MiB semi-spaces whatever the load), auto (large with a beam_trace_port receiver, else held until collections take over 4 % of the time). */
  young_generation: 'auto' | 'large' | 'held';
}

export interface ResolvedConfig {
  receivers: Record<string, Record<string, unknown>>;
  processors: Record<string, Record<string, unknown>>;
  exporters: Record<string, Record<string, unknown>>;
  extensions: Record<string, Record<string, unknown>>;
  service: ServiceConfig;
}

/** Config section → component kind. */
export const SECTIONS: ReadonlyArray<readonly [keyof Omit<ResolvedConfig, 'service'>, ComponentKind]> = [
  ['receivers', 'receiver'],
  ['processors', 'processor'],
  ['exporters', 'exporter'],
  ['extensions', 'extension'],
];

export interface ComponentId {
  type: string;
  name?: string;
}

/** `type` or `type/name`. */
export function parseComponentId(id: string): ComponentId | null {
  const m = /^([a-z][a-z0-9_]*)(?:\/([A-Za-z0-9_.\-]+))?$/.exec(id);
  if (!m) return null;
  return m[2] === undefined ? { type: m[1] } : { type: m[1], name: m[2] };
}
