/**
 * The sample rates a Datadog Agent answered with (`rate_by_service`, keyed
 * `service:<name>,env:<env>`), shared in-process between the datadog exporter
 * that reads them and a sampling processor told to follow them.
 */
let rates: Record<string, number> = {};

export function setAgentRates(next: Record<string, number>): void {
  rates = next;
}

/** The agent's rate for a service and env (its default entry `service:,env:` otherwise), or undefined. */
export function agentRateFor(service: string, env: string): number | undefined {
  return rates[`service:${service},env:${env}`] ?? rates['service:,env:'];
}
