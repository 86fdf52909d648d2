/**
 * Redaction of events, spans (attributes, span events, links, status
 * messages), metric points and resources. Everything is compiled once: key
 * decisions are cached per key, so no regular expression runs on a key
 * already decided; value detectors run once per string value (and once per
 * string, atom or binary inside a rendered term, see terms.ts).
 */
import { createHash, randomBytes } from 'node:crypto';
import { map, type OperatorFunction } from 'rxjs';
import type { AttributeValue, Attributes, Batch } from '../../model/types.js';
import { anyOf, type StringMatcher } from '../../util/match.js';
import type { PrivacyAction, PrivacyConfig } from './config.js';
import {
  COOKIE_SHAPE, DEFAULT_SECRET_FUNCTIONS, DETECTOR_HINTS, DETECTORS, literalDetector, SECRET_KEY_PATTERN, type Detector,
} from './detectors.js';
import { truncateTerm } from '../../beam/rendered_text.js';
import { decodeQuoted } from '../../beam/term_strings.js';
import { sanitizeSql, sanitizeUrl } from './sanitize.js';
import { applyEdits, TermScanner } from './terms.js';

type KeyDecision =
  | { kind: 'remove' }
  | { kind: 'block'; action: PrivacyAction; reason: string }
  | { kind: 'scan'; sql: boolean; url: boolean; maxBytes: number; cookie: boolean; plain: boolean };

/**
 * Short values scanned and found clean are remembered: a trace's pids, MFAs,
 * message kinds and request names repeat on almost every event, and a lookup
 * costs a fraction of the detectors' hints. What a scan finds depends on the
 * text alone under a plain key (no sanitizer, no cookie key, within the size
 * limit), so the memory is shared by all plain keys. Bounded; cleared when full.
 */
const CLEAN_MAX_LENGTH = 128;
const CLEAN_MAX_VALUES = 4096;

/** Attribute keys whose every string literal is a secret when the function is one that takes secrets, by event type. */
const SECRET_ARG_KEYS: Record<string, ReadonlySet<string>> = {
  'function.call': new Set(['beam.args']),
  'function.return': new Set(['beam.return']),
  'function.exception': new Set(['beam.reason']),
};
/** A span name that is a function's: `cart:add/2`, `Shop.Cart.add/2`, `'Elixir.A':f/1`. */
const MFA_NAME = /^[^\s/]+[:.][^\s:./]+\/\d+$|^'[^']*':[^\s/]+\/\d+$/;
const SECRET_SPAN_KEYS: ReadonlySet<string> = new Set(['beam.args', 'beam.return', 'beam.reason', 'exception.message']);

interface ValueScanner {
  name: string;
  action: PrivacyAction;
  detect: Detector;
}

export const REDACTED_COUNT = 'scope.redacted.count';

export class Redactor {
  private readonly decisions = new Map<string, KeyDecision>();
  private readonly clean = new Set<string>();
  private readonly allowed?: StringMatcher;
  private readonly blocked: Array<{ match: StringMatcher; action: PrivacyAction }>;
  private readonly scanners: ValueScanner[];
  private readonly salt: string;
  private readonly secretKeys: boolean;
  private readonly sqlKeys: Set<string>;
  private readonly urlKeys: Set<string>;
  private readonly termKeys: Set<string>;
  private readonly stateKeys: Set<string>;
  private readonly terms: TermScanner;
  private readonly actions = new Map<string, PrivacyAction>();
  private readonly cookie: boolean;
  /** Matches functions that take secrets; undefined when secret_args is off. */
  private readonly secretFunction?: StringMatcher;
  private readonly secretFunctions = new Map<string, boolean>();
  /** Set when a finding's action is drop, during one scanString. */
  private dropped = false;
  /** Redactions since the last take(), by reason. */
  private counts = new Map<string, number>();

  constructor(private readonly config: PrivacyConfig) {
    if (config.allowed_keys) this.allowed = anyOf(config.allowed_keys);
    this.blocked = config.blocked_keys.map((rule) => {
      const r = typeof rule === 'string' ? { key: rule } : rule;
      return { match: anyOf([r.key]), action: r.action ?? config.action };
    });
    this.scanners = [];
    const enabled = (name: string): PrivacyAction | undefined => {
      const setting = config.detectors[name];
      const on = setting === undefined || setting === true || (typeof setting === 'object' && setting.enabled !== false);
      if (!on) return undefined;
      return typeof setting === 'object' && setting.action ? setting.action : config.action;
    };
    for (const [name, detect] of Object.entries(DETECTORS)) {
      const action = enabled(name);
      if (action) this.scanners.push({ name, action, detect });
    }
    const secrets = (config.secrets ?? []).map(String).filter((v) => v.length > 0);
    if (secrets.length > 0) this.scanners.push({ name: 'secrets', action: config.action, detect: literalDetector(secrets) });
    const argsAction = enabled('secret_args');
    if (argsAction) {
      this.actions.set('secret_args', argsAction);
      this.secretFunction = anyOf(config.secret_functions ?? DEFAULT_SECRET_FUNCTIONS);
    }
    for (const [i, rule] of config.blocked_values.entries()) {
      const r = typeof rule === 'string' ? { pattern: rule } : rule;
      const re = new RegExp(r.pattern, 'g');
      // Each rule has its own action: findings name the rule, and count as blocked_value.
      const name = `blocked_value#${i}`;
      this.scanners.push({
        name, action: r.action ?? config.action,
        detect: (text, out) => {
          re.lastIndex = 0;
          for (let m = re.exec(text); m !== null; m = re.exec(text)) {
            if (m[0].length === 0) re.lastIndex++;
            else out.push({ start: m.index, end: m.index + m[0].length, detector: name });
          }
        },
      });
    }
    this.secretKeys = this.scanners.some((s) => s.name === 'password_keys');
    this.cookie = this.scanners.some((s) => s.name === 'distribution_cookie');
    for (const sc of this.scanners) if (!this.actions.has(sc.name)) this.actions.set(sc.name, sc.action);
    this.terms = new TermScanner({
      detectors: this.scanners,
      hints: this.scanners.map((sc) => DETECTOR_HINTS[sc.name]),
      anyText: this.scanners.filter((sc) => sc.name === 'secrets' || sc.name.startsWith('blocked_value')),
      passwordKeys: this.secretKeys,
      cookie: this.cookie,
      replacement: (detector, secret) => this.replacementFor(detector, secret),
      count: (detector) => this.count(detector),
    });
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

  private count(detector: string, n = 1): void {
    const hash = detector.indexOf('#');
    const reason = hash < 0 ? detector : detector.slice(0, hash);
    this.counts.set(reason, (this.counts.get(reason) ?? 0) + n);
  }

  private decide(key: string): KeyDecision {
    let d = this.decisions.get(key);
    if (d) return d;
    if (key === REDACTED_COUNT) d = { kind: 'scan', sql: false, url: false, maxBytes: 0, cookie: false, plain: true };
    else if (this.allowed && !this.allowed(key)) d = { kind: 'remove' };
    else {
      const rule = this.blocked.find((b) => b.match(key));
      if (rule) d = { kind: 'block', action: rule.action, reason: 'blocked_key' };
      else if (this.secretKeys && SECRET_KEY_PATTERN.test(key)) d = { kind: 'block', action: this.actionOf('password_keys'), reason: 'password_keys' };
      else {
        const sql = this.sqlKeys.has(key);
        const url = this.urlKeys.has(key);
        const cookie = this.cookie && /cookie/i.test(key);
        d = {
          kind: 'scan', sql, url, cookie, plain: !sql && !url && !cookie,
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

  /**
   * A string with every finding replaced; `null` when a finding's action is
   * drop. With `secretLiterals` (a secret function's arguments), every string
   * literal in it is a secret too.
   */
  scanString(value: string, decision?: Extract<KeyDecision, { kind: 'scan' }>, secretLiterals = false): string | null {
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
    this.dropped = false;
    if (decision?.cookie && COOKIE_SHAPE.test(v)) {
      // A bare cookie under a key that says cookie.
      this.count('distribution_cookie');
      const replaced = this.replacementFor('distribution_cookie', v);
      return this.dropped ? null : replaced;
    }
    // A value a sanitizer already replaced (`token=?`) is no secret any more.
    const edits = this.terms.scan(v, secretLiterals, decision?.sql || decision?.url ? '?' : undefined);
    if (this.dropped) return null;
    if (edits.length > 0) v = applyEdits(v, edits);
    if (decision && decision.maxBytes > 0 && v.length > decision.maxBytes) {
      v = truncateTerm(v, decision.maxBytes);
      this.count('truncated');
    }
    return v;
  }

  private replacementFor(detector: string, secret: string): string {
    const action = this.actions.get(detector) ?? this.config.action;
    if (action === 'drop') this.dropped = true;
    return this.replacement(action, secret);
  }

  /**
   * The attribute keys of an event whose string literals are all secrets: the
   * arguments (return value, exception reason) of a function that takes them.
   */
  secretKeysOf(type: string, attributes: Attributes): ReadonlySet<string> | undefined {
    if (!this.secretFunction) return undefined;
    const keys = SECRET_ARG_KEYS[type];
    if (!keys) return undefined;
    const mfa = attributes['beam.mfa'];
    return typeof mfa === 'string' && this.takesSecrets(mfa) ? keys : undefined;
  }

  /**
   * The same for a span, by its `code.function` / `code.function.name`
   * attribute, or its name when that is a function's (`my_auth:check_password/2`,
   * as correlation names function spans; not `POST /api/token`).
   */
  secretKeysOfSpan(name: string, attributes: Attributes): ReadonlySet<string> | undefined {
    if (!this.secretFunction) return undefined;
    for (const candidate of [attributes['code.function'], attributes['code.function.name'], MFA_NAME.test(name) ? name : undefined]) {
      if (typeof candidate === 'string' && candidate.length > 0 && this.takesSecrets(candidate)) return SECRET_SPAN_KEYS;
    }
    return undefined;
  }

  /** Whether a function (`check_password`, `my_auth:check_password/2`, `MyApp.Auth.check_password/2`) matches secret_functions. */
  takesSecrets(mfa: string): boolean {
    let known = this.secretFunctions.get(mfa);
    if (known !== undefined) return known;
    const match = this.secretFunction;
    known = false;
    if (match) {
      const name = functionName(mfa);
      known = match(mfa) || (name !== undefined && (match(name) || match(mfa.replace(/\/\d+$/, ''))));
    }
    if (this.secretFunctions.size < 10_000) this.secretFunctions.set(mfa, known);
    return known;
  }

  /** Redacted attributes (the same object when nothing changed) and how many values were acted on. */
  attributes(attrs: Attributes, secretKeys?: ReadonlySet<string>): { attributes: Attributes; redacted: number } {
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
        next = this.value(value, d, secretKeys?.has(key) ?? false);
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

  private value(value: AttributeValue, d: Extract<KeyDecision, { kind: 'scan' }>, secretLiterals: boolean): AttributeValue | undefined {
    if (typeof value === 'string') {
      const remembered = d.plain && !secretLiterals && value.length <= CLEAN_MAX_LENGTH && (d.maxBytes === 0 || value.length <= d.maxBytes);
      if (remembered && this.clean.has(value)) return value;
      const s = this.scanString(value, d, secretLiterals);
      if (remembered && s === value) {
        if (this.clean.size >= CLEAN_MAX_VALUES) this.clean.clear();
        this.clean.add(value);
      }
      return s === null ? undefined : s;
    }
    if (Array.isArray(value)) {
      let changed = false;
      const items: AttributeValue[] = [];
      for (const item of value) {
        const next = this.value(item, d, secretLiterals);
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

/** The function's name in a rendered MFA: `my_auth:check_password/2`, `'Elixir.A':'f'/1`, `MyApp.Auth.check_password/2` → the function; undefined when there is no module part. */
export function functionName(mfa: string): string | undefined {
  const text = mfa.replace(/\/\d+$/, '');
  if (text.endsWith("'") || text.endsWith('"')) {
    const quote = text[text.length - 1];
    let open = -1;
    for (let i = text.length - 2; i >= 0; i--) {
      if (text[i] === quote && text[i - 1] !== '\\') {
        open = i;
        break;
      }
    }
    return open > 0 ? decodeQuoted(text, open + 1, text.length - 1).text : undefined;
  }
  const m = /[:.]([^:.'"\s]+)$/.exec(text);
  return m ? m[1] : undefined;
}

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
    const a = r.attributes(e.attributes, r.secretKeysOf(e.type, e.attributes));
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
    const secret = r.secretKeysOfSpan(s.name, s.attributes);
    const a = r.attributes(s.attributes, secret);
    let n = a.redacted;
    s.resource = resource(s.resource);
    s.events = s.events.map((ev) => {
      const x = r.attributes(ev.attributes, secret);
      n += x.redacted;
      return x.redacted === 0 ? ev : { ...ev, attributes: x.attributes };
    });
    s.links = s.links.map((l) => {
      const x = r.attributes(l.attributes);
      n += x.redacted;
      return x.redacted === 0 ? l : { ...l, attributes: x.attributes };
    });
    if (s.status.message) {
      const m = r.scanString(s.status.message, undefined, secret !== undefined);
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
