/**
 * Redaction of events, spans (attributes, span events, links, status
 * messages), metric points and resources. Everything is compiled once: key
 * decisions are cached per key, so no regular expression runs on a key
 * already decided; value detectors run once per string value.
 */
import { createHash, randomBytes } from 'node:crypto';
import { map, type OperatorFunction } from 'rxjs';
import type { AttributeValue, Attributes, Batch } from '../../model/types.js';
import { anyOf, type StringMatcher } from '../../util/match.js';
import type { PrivacyAction, PrivacyConfig } from './config.js';
import { DETECTORS, mergeFindings, SECRET_KEY_PATTERN, type Detector, type Finding } from './detectors.js';
import { truncateTerm } from '../../beam/rendered_text.js';
import { sanitizeSql, sanitizeUrl } from './sanitize.js';

type KeyDecision =
  | { kind: 'remove' }
  | { kind: 'block'; action: PrivacyAction; reason: string }
  | { kind: 'scan'; sql: boolean; url: boolean; maxBytes: number };

interface ValueScanner {
  name: string;
  action: PrivacyAction;
  detect: Detector;
}

export const REDACTED_COUNT = 'scope.redacted.count';

export class Redactor {
  private readonly decisions = new Map<string, KeyDecision>();
  private readonly allowed?: StringMatcher;
  private readonly blocked: Array<{ match: StringMatcher; action: PrivacyAction }>;
  private readonly scanners: ValueScanner[];
  private readonly salt: string;
  private readonly secretKeys: boolean;
  private readonly sqlKeys: Set<string>;
  private readonly urlKeys: Set<string>;
  private readonly termKeys: Set<string>;
  private readonly stateKeys: Set<string>;
  /** Redactions since the last take(), by reason. */
  private counts = new Map<string, number>();

  constructor(private readonly config: PrivacyConfig) {
    if (config.allowed_keys) this.allowed = anyOf(config.allowed_keys);
    this.blocked = config.blocked_keys.map((rule) => {
      const r = typeof rule === 'string' ? { key: rule } : rule;
      return { match: anyOf([r.key]), action: r.action ?? config.action };
    });
    this.scanners = [];
    for (const [name, detect] of Object.entries(DETECTORS)) {
      const setting = config.detectors[name];
      const enabled = setting === undefined || setting === true || (typeof setting === 'object' && setting.enabled !== false);
      if (!enabled) continue;
      const action = typeof setting === 'object' && setting.action ? setting.action : config.action;
      this.scanners.push({ name, action, detect });
    }
    for (const rule of config.blocked_values) {
      const r = typeof rule === 'string' ? { pattern: rule } : rule;
      const re = new RegExp(r.pattern, 'g');
      this.scanners.push({
        name: 'blocked_value', action: r.action ?? config.action,
        detect: (text, out) => {
          re.lastIndex = 0;
          for (let m = re.exec(text); m !== null; m = re.exec(text)) {
            if (m[0].length === 0) re.lastIndex++;
            else out.push({ start: m.index, end: m.index + m[0].length, detector: 'blocked_value' });
          }
        },
      });
    }
    this.secretKeys = this.scanners.some((s) => s.name === 'password_keys');
    this.salt = config.hash_salt ?? randomBytes(16).toString('hex');
    this.sqlKeys = new Set(config.db_sanitizer.enabled ? config.db_sanitizer.keys : []);
    this.urlKeys = new Set(config.url_sanitizer.enabled ? config.url_sanitizer.keys : []);
    this.termKeys = new Set(config.term_keys);
    this.stateKeys = new Set(config.state_keys);
  }

  takeCounts(): Map<string, number> {
    const c = this.counts;
    this.counts = new Map();
    return c;
  }

  private count(reason: string, n = 1): void {
    this.counts.set(reason, (this.counts.get(reason) ?? 0) + n);
  }

  private decide(key: string): KeyDecision {
    let d = this.decisions.get(key);
    if (d) return d;
    if (key === REDACTED_COUNT) d = { kind: 'scan', sql: false, url: false, maxBytes: 0 };
    else if (this.allowed && !this.allowed(key)) d = { kind: 'remove' };
    else {
      const rule = this.blocked.find((b) => b.match(key));
      if (rule) d = { kind: 'block', action: rule.action, reason: 'blocked_key' };
      else if (this.secretKeys && SECRET_KEY_PATTERN.test(key)) d = { kind: 'block', action: this.actionOf('password_keys'), reason: 'password_keys' };
      else {
        d = {
          kind: 'scan', sql: this.sqlKeys.has(key), url: this.urlKeys.has(key),
          maxBytes: this.stateKeys.has(key) ? this.config.max_state_bytes : this.termKeys.has(key) ? this.config.max_term_bytes : 0,
        };
      }
    }
    if (this.decisions.size < 100_000) this.decisions.set(key, d);
    return d;
  }

  private actionOf(scanner: string): PrivacyAction {
    return this.scanners.find((s) => s.name === scanner)?.action ?? this.config.action;
  }

  private hash(value: string): string {
    return `sha256:${createHash('sha256').update(this.salt).update(value).digest('hex').slice(0, 32)}`;
  }

  private replacement(action: PrivacyAction, secret: string): string {
    return action === 'hash' ? this.hash(secret) : this.config.mask;
  }

  /** A string with every finding replaced; `null` when a finding's action is drop. */
  scanString(value: string, decision?: Extract<KeyDecision, { kind: 'scan' }>): string | null {
    let v = value;
    if (decision?.sql) {
      const s = sanitizeSql(v);
      if (s !== v) this.count('db_sanitizer');
      v = s;
    }
    if (decision?.url) {
      const s = sanitizeUrl(v);
      if (s !== v) this.count('url_sanitizer');
      v = s;
    }
    let findings: Finding[] = [];
    const actions = new Map<string, PrivacyAction>();
    for (const s of this.scanners) {
      const before = findings.length;
      s.detect(v, findings);
      if (findings.length > before) actions.set(s.name, s.action);
    }
    // A value a sanitizer already replaced (`token=?`) is no secret any more.
    if (findings.length > 0 && (decision?.sql || decision?.url)) findings = findings.filter((f) => v.slice(f.start, f.end) !== '?');
    if (findings.length > 0) {
      for (const f of findings) this.count(f.detector);
      if ([...actions.values()].includes('drop')) return null;
      const merged = mergeFindings(findings);
      let out = '';
      let at = 0;
      for (const f of merged) {
        out += v.slice(at, f.start) + this.replacement(actions.get(f.detector) ?? this.config.action, v.slice(f.start, f.end));
        at = f.end;
      }
      v = out + v.slice(at);
    }
    if (decision && decision.maxBytes > 0 && v.length > decision.maxBytes) {
      v = truncateTerm(v, decision.maxBytes);
      this.count('truncated');
    }
    return v;
  }

  /** Redacted attributes (the same object when nothing changed) and how many values were acted on. */
  attributes(attrs: Attributes): { attributes: Attributes; redacted: number } {
    let out: Attributes | undefined;
    let redacted = 0;
    for (const key in attrs) {
      const value = attrs[key];
      const d = this.decide(key);
      let next: AttributeValue | undefined = value;
      if (d.kind === 'remove') {
        next = undefined;
        this.count('not_allowed');
      } else if (d.kind === 'block') {
        this.count(d.reason);
        next = d.action === 'drop' ? undefined : this.replacement(d.action, typeof value === 'string' ? value : JSON.stringify(value, bigintJson));
      } else {
        next = this.value(value, d);
      }
      if (next !== value) {
        out ??= { ...attrs };
        redacted++;
        if (next === undefined) delete out[key];
        else out[key] = next;
      }
    }
    return { attributes: out ?? attrs, redacted };
  }

  private value(value: AttributeValue, d: Extract<KeyDecision, { kind: 'scan' }>): AttributeValue | undefined {
    if (typeof value === 'string') {
      const s = this.scanString(value, d);
      return s === null ? undefined : s;
    }
    if (Array.isArray(value)) {
      let changed = false;
      const items: AttributeValue[] = [];
      for (const item of value) {
        const next = this.value(item, d);
        if (next !== item) changed = true;
        if (next !== undefined) items.push(next);
      }
      return changed ? items : value;
    }
    if (value !== null && typeof value === 'object' && !(value instanceof Uint8Array)) {
      const { attributes } = this.attributes(value as Attributes);
      return attributes;
    }
    return value;
  }
}

const bigintJson = (_k: string, v: unknown): unknown => (typeof v === 'bigint' ? v.toString() : v);

/** Redacts a batch in place (the pipeline gives a mutating processor its own copy when a batch is shared). */
export function redactBatch(r: Redactor, batch: Batch): void {
  // Resources are often shared between items: each distinct object is redacted once.
  const resources = new Map<Attributes, Attributes>();
  const resource = (res: Attributes): Attributes => {
    let done = resources.get(res);
    if (!done) {
      done = r.attributes(res).attributes;
      resources.set(res, done);
    }
    return done;
  };
  const mark = (attrs: Attributes, n: number): Attributes => {
    if (n === 0) return attrs;
    const prior = typeof attrs[REDACTED_COUNT] === 'number' ? (attrs[REDACTED_COUNT] as number) : 0;
    return { ...attrs, [REDACTED_COUNT]: prior + n };
  };

  for (const e of batch.events) {
    const a = r.attributes(e.attributes);
    let n = a.redacted;
    if (typeof e.body === 'string') {
      const body = r.scanString(e.body);
      if (body !== e.body) {
        n++;
        if (body === null) delete e.body;
        else e.body = body;
      }
    }
    e.attributes = mark(a.attributes, n);
  }
  for (const s of batch.spans) {
    const a = r.attributes(s.attributes);
    let n = a.redacted;
    s.resource = resource(s.resource);
    s.events = s.events.map((ev) => {
      const x = r.attributes(ev.attributes);
      n += x.redacted;
      return x.redacted === 0 ? ev : { ...ev, attributes: x.attributes };
    });
    s.links = s.links.map((l) => {
      const x = r.attributes(l.attributes);
      n += x.redacted;
      return x.redacted === 0 ? l : { ...l, attributes: x.attributes };
    });
    if (s.status.message) {
      const m = r.scanString(s.status.message);
      if (m !== s.status.message) {
        n++;
        s.status = m === null ? { code: s.status.code } : { ...s.status, message: m };
      }
    }
    s.attributes = mark(a.attributes, n);
  }
  for (const m of batch.metrics) {
    const a = r.attributes(m.attributes);
    m.resource = resource(m.resource);
    m.attributes = mark(a.attributes, a.redacted);
  }
}

export function privacyOperator(r: Redactor, onCounts: (counts: Map<string, number>) => void): OperatorFunction<Batch, Batch> {
  return map((batch) => {
    redactBatch(r, batch);
    const counts = r.takeCounts();
    if (counts.size > 0) onCounts(counts);
    return batch;
  });
}
