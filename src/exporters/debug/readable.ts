/**
 * verbosity: basic — the console as a person reads it while a node runs:
 * a crash as a block (who, why, the poison and its sender, where, the
 * restart, and the command that tells the whole story), anomalies and the
 * spans that matter (trace roots, errors) one line each, and everything else
 * counted by type and written as one summary line per interval.
 */
import type { AttributeValue, Attributes, Batch, ScopeEvent, Span } from '../../model/types.js';
import { formatNanos } from './render.js';
import { fit } from '../../util/text.js';

const WIDTH = 100;

/** What was counted, not shown, since the last summary line. */
export class Tally {
  readonly counts = new Map<string, number>();
  spansHidden = 0;

  add(key: string, n = 1): void {
    this.counts.set(key, (this.counts.get(key) ?? 0) + n);
  }

  get empty(): boolean {
    return this.counts.size === 0 && this.spansHidden === 0;
  }

  /** One line — `… since 15:04:05: 3179 events, 130 inner spans, 40 metric points (message.send 1200, …)` — then cleared. */
  take(sinceMs: number): string {
    const events = [...this.counts.entries()].filter(([k]) => k !== 'metric').sort((a, b) => b[1] - a[1]);
    const eventCount = events.reduce((n, [, c]) => n + c, 0);
    const metrics = this.counts.get('metric') ?? 0;
    const totals = [
      eventCount > 0 ? `${eventCount} events` : null,
      this.spansHidden > 0 ? `${this.spansHidden} inner spans` : null,
      metrics > 0 ? `${metrics} metric points` : null,
    ].filter((p): p is string => p !== null);
    const types = events.map(([k, c]) => `${k} ${c}`).join(', ');
    this.counts.clear();
    this.spansHidden = 0;
    const since = formatNanos(BigInt(sinceMs) * 1_000_000n).slice(11, 19);
    return cut(`${' '.repeat(23)}  … since ${since}: ${totals.join(', ')}${types ? ` (${types})` : ''}`);
  }
}

const text = (v: AttributeValue | undefined): string | null => (v === undefined || v === null ? null : typeof v === 'string' ? v : JSON.stringify(v));
const list = (v: AttributeValue | undefined): unknown[] => (Array.isArray(v) ? v : []);
const when = (ns: bigint): string => formatNanos(ns).slice(0, 23).replace('T', ' ');
const cut = (s: string): string => fit(s, WIDTH);
const shown = (name: string): string => name.replace(/^Elixir\./, '');

function crashBlock(e: ScopeEvent): string[] {
  const a: Attributes = e.attributes;
  const name = text(a['beam.registered_name']);
  const root = a['scope.crash.root_cause'] === true;
  const lines = [cut(`${when(e.time)}  CRASH  ${e.pid ?? '?'}${name ? ` (${shown(name)})` : ''} on ${e.source.node}${root ? '' : `, taken down by ${text(a['scope.crash.root_pid']) ?? '?'}`}`)];
  const row = (label: string, value: string): void => void lines.push(cut(`    ${label.padEnd(10)} ${value}`));
  row('reason', text(a['beam.reason']) ?? '');
  const poison = text(a['scope.crash.poison_message']);
  if (poison) row('poison', `${poison}${a['scope.crash.poison_sender'] ? ` from ${text(a['scope.crash.poison_sender'])}` : ''}`);
  const where = list(a['scope.crash.stack'])[0];
  if (where !== undefined) row('where', String(where));
  for (const r of list(a['scope.crash.restarts'])) {
    const x = r as Record<string, unknown>;
    row('restarted', `by ${String(x.supervisor)} as ${String(x.new_pid)}`);
  }
  const died = list(a['scope.crash.died_next']).length;
  if (died > 0) row('took down', `${died} more process${died === 1 ? '' : 'es'}`);
  row('story', `scope-pipeline inspect crash ${e.pid ?? 'latest'}`);
  return lines;
}

function anomalyLine(e: ScopeEvent): string {
  const a = e.attributes;
  const score = typeof a['anomaly.score'] === 'number' ? ` score ${(a['anomaly.score']).toFixed(2)}` : '';
  const seen = a['anomaly.observed'] !== undefined ? ` (observed ${text(a['anomaly.observed'])}, expected ${text(a['anomaly.expected']) ?? '?'})` : '';
  return cut(`${when(e.time)}  ANOMALY  ${text(a['anomaly.kind']) ?? '?'}  ${text(a['anomaly.key']) ?? ''}${score}${seen}`);
}

function spanLine(s: Span): string {
  const ms = Number(s.endTimeUnixNano - s.startTimeUnixNano) / 1e6;
  const who = text(s.attributes['beam.pid']) ?? text(s.resource['service.name']) ?? '';
  const status = s.status.code === 'error' ? `  ERROR${s.status.message ? ` ${s.status.message}` : ''}` : '';
  return cut(`${when(s.startTimeUnixNano)}  span  ${s.name}  ${ms < 1 ? ms.toFixed(3) : ms.toFixed(1)} ms  ${who}  trace ${s.traceId.slice(0, 8)}${status}`);
}

/** The lines to show for a batch now; what is not shown is added to `tally`. */
export function readableLines(batch: Batch, tally: Tally): string[] {
  const out: string[] = [];
  for (const e of batch.events) {
    if (e.type === 'process.crash') out.push(...crashBlock(e));
    else if (e.type === 'anomaly.detected') out.push(anomalyLine(e));
    else tally.add(e.type);
  }
  for (const s of batch.spans) {
    if (s.status.code === 'error' || !s.parentSpanId) out.push(spanLine(s));
    else tally.spansHidden++;
  }
  if (batch.metrics.length > 0) tally.add('metric', batch.metrics.length);
  return out;
}
