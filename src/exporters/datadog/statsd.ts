/**
 * Metric points and anomaly counts to DogStatsD (UDP, the datagram format
 * `name:value|type|#tag:value,…`, lines joined by newlines up to 1 432 bytes).
 * Gauges as `g`; cumulative monotonic sums as count deltas `c` (the first
 * point of a series only sets its start); histograms as gauges of their sum
 * and count; each anomaly.detected event as `scope.anomaly.detected:1|c`.
 * Tag sets are bounded per metric name.
 */
import { createSocket, type Socket } from 'node:dgram';
import type { AttributeValue, Attributes, MetricPoint, ScopeEvent } from '../../model/types.js';

const MAX_DATAGRAM = 1432;

const clean = (s: string): string => s.replace(/[|,#\n\s:]/g, '_');

function tagValue(v: AttributeValue): string | undefined {
  if (typeof v === 'string') return v === '' ? undefined : clean(v);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return undefined;
}

function tagsOf(attributes: Attributes): string[] {
  const tags: string[] = [];
  for (const [k, v] of Object.entries(attributes)) {
    const value = tagValue(v);
    if (value !== undefined) tags.push(`${clean(k)}:${value}`);
  }
  return tags;
}

export class StatsdClient {
  private socket?: Socket;
  private readonly tagSets = new Map<string, Set<string>>();
  private readonly lastSums = new Map<string, number>();
  limited = 0;

  constructor(private readonly host: string, private readonly port: number, private readonly maxTagSets: number) {}

  /** The DogStatsD lines for a batch's metric points and anomaly events. */
  lines(metrics: MetricPoint[], events: ScopeEvent[]): string[] {
    const out: string[] = [];
    for (const m of metrics) {
      const resourceTags = tagsOf({
        ...(m.resource['service.name'] !== undefined ? { service: m.resource['service.name'] } : {}),
        ...(m.resource['beam.node'] !== undefined ? { 'beam.node': m.resource['beam.node'] } : {}),
      });
      let tags = [...resourceTags, ...tagsOf(m.attributes)].sort();
      const name = clean(m.name);
      const key = tags.join(',');
      let seen = this.tagSets.get(name);
      if (!seen) this.tagSets.set(name, (seen = new Set()));
      if (!seen.has(key)) {
        if (seen.size >= this.maxTagSets) {
          this.limited++;
          tags = resourceTags.sort();
        } else {
          seen.add(key);
        }
      }
      const suffix = tags.length > 0 ? `|#${tags.join(',')}` : '';
      if (m.type === 'gauge' || (m.type === 'sum' && !m.monotonic)) {
        out.push(`${name}:${m.value}|g${suffix}`);
      } else if (m.type === 'sum') {
        const series = `${name}${suffix}`;
        const last = this.lastSums.get(series);
        this.lastSums.set(series, m.value);
        if (this.lastSums.size > this.maxTagSets * 64) this.lastSums.delete(this.lastSums.keys().next().value as string);
        if (last === undefined) continue;
        const delta = m.value >= last ? m.value - last : m.value; // a reset starts from zero
        if (delta > 0) out.push(`${name}:${delta}|c${suffix}`);
      } else {
        const count = m.histogram?.count ?? m.exponentialHistogram?.count ?? m.summary?.count ?? 0;
        out.push(`${name}.sum:${m.value}|g${suffix}`, `${name}.count:${count}|g${suffix}`);
      }
    }
    for (const e of events) {
      if (e.type !== 'anomaly.detected') continue;
      const tags = tagsOf({ kind: e.attributes['anomaly.kind'] ?? 'unknown', 'beam.node': e.source.node });
      out.push(`scope.anomaly.detected:1|c|#${tags.join(',')}`);
    }
    return out;
  }

  /** Sends lines packed into datagrams; resolves when all were handed to the socket. */
  async send(lines: string[]): Promise<void> {
    if (lines.length === 0) return;
    this.socket ??= createSocket('udp4');
    const datagrams: string[] = [];
    let current = '';
    for (const line of lines) {
      if (current && current.length + 1 + line.length > MAX_DATAGRAM) {
        datagrams.push(current);
        current = '';
      }
      current = current ? `${current}\n${line}` : line;
    }
    if (current) datagrams.push(current);
    const socket = this.socket;
    await Promise.all(datagrams.map((d) => new Promise<void>((resolve, reject) => socket.send(d, this.port, this.host, (error) => (error ? reject(error) : resolve())))));
  }

  close(): void {
    this.socket?.close();
    this.socket = undefined;
  }
}
