/** Drops events, spans and metrics by type, name, node, service, status or attribute. */
import { map, type OperatorFunction } from 'rxjs';
import type { ProcessorContext } from '../../component/types.js';
import type { Batch, MetricPoint, ScopeEvent, Span } from '../../model/types.js';
import type { EventMatch, FilterConfig, FilterRules, MetricMatch, SpanMatch } from './config.js';
import { anyOf, attributesMatcher } from '../../util/match.js';

type Predicate<T> = (item: T) => boolean;

function all<T>(checks: Array<Predicate<T> | undefined>): Predicate<T> {
  const present = checks.filter((c): c is Predicate<T> => c !== undefined);
  return (item) => present.every((c) => c(item));
}

function eventMatcher(m: EventMatch): Predicate<ScopeEvent> {
  const types = m.types && anyOf(m.types);
  const nodes = m.nodes && anyOf(m.nodes);
  const attrs = m.attributes && attributesMatcher(m.attributes);
  return all<ScopeEvent>([
    types && ((e) => types(e.type)),
    nodes && ((e) => nodes(e.source.node)),
    attrs && ((e) => attrs(e.attributes)),
  ]);
}

function spanMatcher(m: SpanMatch): Predicate<Span> {
  const names = m.names && anyOf(m.names);
  const services = m.services && anyOf(m.services);
  const status = m.status && new Set<string>(m.status);
  const attrs = m.attributes && attributesMatcher(m.attributes);
  return all<Span>([
    names && ((s) => names(s.name)),
    services && ((s) => services(String(s.resource['service.name'] ?? ''))),
    status && ((s) => status.has(s.status.code)),
    attrs && ((s) => attrs(s.attributes)),
  ]);
}

function metricMatcher(m: MetricMatch): Predicate<MetricPoint> {
  const names = m.names && anyOf(m.names);
  const attrs = m.attributes && attributesMatcher(m.attributes);
  return all<MetricPoint>([names && ((p) => names(p.name)), attrs && ((p) => attrs(p.attributes))]);
}

/** A keep-predicate, or undefined when there are no rules (the array passes untouched). */
function keeper<T, M>(rules: FilterRules<M>, compile: (m: M) => Predicate<T>): Predicate<T> | undefined {
  const include = rules.include && compile(rules.include);
  const exclude = rules.exclude && compile(rules.exclude);
  if (!include && !exclude) return undefined;
  return (item) => (!include || include(item)) && !(exclude && exclude(item));
}

export function filterOperator(config: FilterConfig, ctx: Pick<ProcessorContext, 'countDropped'>): OperatorFunction<Batch, Batch> {
  const keepEvent = keeper(config.events, eventMatcher);
  const keepSpan = keeper(config.spans, spanMatcher);
  const keepMetric = keeper(config.metrics, metricMatcher);
  return map((batch) => {
    // New arrays, never in-place: the input may be shared with other pipelines.
    const events = keepEvent ? batch.events.filter(keepEvent) : batch.events;
    const spans = keepSpan ? batch.spans.filter(keepSpan) : batch.spans;
    const metrics = keepMetric ? batch.metrics.filter(keepMetric) : batch.metrics;
    const dropped = batch.events.length - events.length + batch.spans.length - spans.length + batch.metrics.length - metrics.length;
    if (dropped === 0) return batch;
    ctx.countDropped(dropped, 'filtered');
    return { events, spans, metrics };
  });
}
