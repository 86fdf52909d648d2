/**
 * Finding secrets in string values that are rendered Erlang/Elixir terms (or
 * JSON), and replacing them so the term stays well formed and of its kind.
 *
 * A value that parses as a term is taken apart: the text detectors see the
 * *contents* of every binary, charlist, string and atom, unescaped (the JSON
 * inside `<<"{\"email\":…}">>`), and byte-list binaries decoded; their
 * findings are written back inside the quotes, escaped (`<<"****">>`,
 * `~c"****"`, `'****'`), and a binary written as bytes is replaced whole. The
 * structure tells what text alone cannot: the value under a secret-named key
 * (`#{password => …}`, `[token: …]`, `{password, …}`, `"password":…`), atoms
 * shaped like a distribution cookie, and (for secret arguments) every string
 * literal. Numbers are never secrets: integers in a term are not scanned, nor
 * are JSON strings and whole values that are entirely a number; the digits in
 * an Erlang/Elixir binary or charlist are the application's text and are.
 *
 * A value that does not parse is plain text: the detectors see it as it is,
 * plus the unescaped contents of any `<<"…">>` or escaped `"…"` in it.
 */
import { isJson, parseTerm, type AtomNode, type BinaryNode, type StringNode, type TermNode, type TermSyntax } from '../../beam/term_parse.js';
import { bytesText, decodeQuoted, escapeQuoted } from '../../beam/term_strings.js';
import { COOKIE_SHAPE, mergeFindings, NUMBER_TEXT, SECRET_KEY_PATTERN, type Detector, type Finding } from './detectors.js';

/** One replacement in a string: `[start, end)` becomes `replacement`. */
export interface Edit {
  start: number;
  end: number;
  replacement: string;
  detector: string;
}

export interface TermScanHooks {
  /** Enabled text detectors, with the name their findings count under. */
  detectors: ReadonlyArray<{ name: string; detect: Detector }>;
  /** For each of `detectors`, a test text must pass to hold a finding (DETECTOR_HINTS); undefined for those with none. */
  hints: ReadonlyArray<((text: string) => boolean) | undefined>;
  /** Those of them that may match any text at all (configured secrets, blocked_values). */
  anyText: ReadonlyArray<{ name: string; detect: Detector }>;
  /** Whether the structural parts of these detectors are on. */
  passwordKeys: boolean;
  cookie: boolean;
  /** The replacement for a secret found by `detector` (mask or hash; notes a drop). */
  replacement(detector: string, secret: string): string;
  /** Counts one finding. */
  count(detector: string): void;
}

/** How deep values inside values are looked into (a JSON body in a binary in a tuple…). */
const MAX_DEPTH = 4;
/** Atoms that say nothing secret even under a secret key. */
const PLAIN_ATOMS = new Set(['undefined', 'nil', 'null', 'true', 'false', 'none']);
/** Text written other than as itself: escapes that stand for characters, and binaries written as bytes. */
const HIDDEN_TEXT = /\\[0-7xus^]|<<\s*\d/;
const PLAIN_NAME = /^[a-z0-9_]*[?!]?$/;
/** Embedded quoted text in plain text: a binary, or a string with escapes in it. */
const EMBEDDED = /<<"((?:[^"\\]|\\.)*)"(?:\/utf8)?>>|"((?:[^"\\]|\\.)*)"/gd;

function looksLikeTerm(text: string): boolean {
  let i = 0;
  while (text[i] === ' ' || text[i] === '\n' || text[i] === '\t' || text[i] === '\r') i++;
  const c = text[i];
  return c === '{' || c === '[' || c === '#' || c === '%' || c === '<' || c === '"' || c === "'" || c === ':' || c === '~';
}

/** Keeps the outermost of overlapping edits (the wider one, or the first); sorted by start. */
export function resolveEdits(edits: Edit[]): Edit[] {
  if (edits.length < 2) return edits;
  edits.sort((a, b) => a.start - b.start || b.end - a.end);
  const out: Edit[] = [edits[0]];
  for (let i = 1; i < edits.length; i++) {
    const last = out[out.length - 1];
    const e = edits[i];
    if (e.start < last.end) {
      if (e.end > last.end) out[out.length - 1] = { ...last, end: e.end };
    } else {
      out.push(e);
    }
  }
  return out;
}

export function applyEdits(text: string, edits: readonly Edit[]): string {
  let out = '';
  let at = 0;
  for (const e of edits) {
    out += text.slice(at, e.start) + e.replacement;
    at = e.end;
  }
  return out + text.slice(at);
}

export class TermScanner {
  constructor(private readonly hooks: TermScanHooks) {}

  /**
   * The edits that redact `text`. With `allLiterals` (the arguments of a
   * function that takes secrets) every string literal is a secret too, and a
   * value that is no term is one whole. `ignore` drops findings on exactly that
   * text (a sanitizer's `?`).
   */
  scan(text: string, allLiterals = false, ignore?: string): Edit[] {
    if (allLiterals) {
      const parsed = parseTerm(text);
      if (parsed) return this.tree(text, parsed.nodes, parsed.syntax, 0, true);
      if (text.length === 0 || NUMBER_TEXT.test(text)) return [];
      return [this.whole(text, 0, text.length, 'secret_args')];
    }
    if (this.nothingIn(text)) return [];
    return this.unit(text, 0, ignore);
  }

  /**
   * Whether no detector can find anything in `text`, its decoded strings and
   * its structure included: every detector has a hint, none passes on the
   * text, and nothing in it is written other than as itself (escapes, bytes).
   */
  private nothingIn(text: string): boolean {
    const hints = this.hooks.hints;
    for (const h of hints) if (h === undefined || h(text)) return false;
    return !HIDDEN_TEXT.test(text);
  }

  private whole(text: string, start: number, end: number, detector: string): Edit {
    this.hooks.count(detector);
    return { start, end, replacement: this.hooks.replacement(detector, text.slice(start, end)), detector };
  }

  /**
   * A piece of text on its own: a term, or plain text. Text that is entirely a
   * number is a number — unless `numberIsText` (the contents of a binary or
   * charlist in an Erlang/Elixir term: user text that happens to be digits).
   */
  private unit(text: string, depth: number, ignore?: string, numberIsText = false): Edit[] {
    if (NUMBER_TEXT.test(text)) return numberIsText ? this.plain(text, depth, undefined, true) : [];
    if (depth < MAX_DEPTH && looksLikeTerm(text)) {
      const parsed = parseTerm(text);
      if (parsed) return this.tree(text, parsed.nodes, parsed.syntax, depth, false);
    }
    return this.plain(text, depth, ignore);
  }

  private plain(text: string, depth: number, ignore?: string, numberIsText = false): Edit[] {
    if (text.length === 0 || (!numberIsText && NUMBER_TEXT.test(text))) return [];
    let findings: Finding[] = [];
    for (const d of this.hooks.detectors) d.detect(text, findings);
    if (ignore !== undefined && findings.length > 0) findings = findings.filter((f) => text.slice(f.start, f.end) !== ignore);
    const edits: Edit[] = [];
    if (findings.length > 0) {
      for (const f of findings) this.hooks.count(f.detector);
      for (const f of mergeFindings(findings)) {
        const r = this.hooks.replacement(f.detector, text.slice(f.start, f.end));
        const replacement = f.wrap ? `${f.wrap.prefix}${escapeQuoted(r, f.wrap.quote)}${f.wrap.suffix}` : r;
        edits.push({ start: f.start, end: f.end, replacement, detector: f.detector });
      }
    }
    if (depth < MAX_DEPTH && text.includes('"')) {
      // Only contents with escapes: else the detectors saw their text as it is. Collected first: scanning them uses EMBEDDED again.
      const spans: Array<[number, number, boolean]> = [];
      EMBEDDED.lastIndex = 0;
      for (let m = EMBEDDED.exec(text); m !== null; m = EMBEDDED.exec(text)) {
        const span = m.indices![1] ?? m.indices![2];
        if (span && (m[1] ?? m[2]).includes('\\')) spans.push([span[0], span[1], m[1] !== undefined]);
      }
      for (const [from, to, binary] of spans) edits.push(...this.inside(text, from, to, '"', false, depth, binary));
    }
    return resolveEdits(edits);
  }

  /** Edits for what the detectors find in the contents `text[from, to)` of a quoted string, written back escaped. */
  private inside(text: string, from: number, to: number, quote: '"' | "'", elixir: boolean, depth: number, numberIsText = false): Edit[] {
    if (to <= from) return [];
    const d = decodeQuoted(text, from, to);
    const inner = this.unit(d.text, depth + 1, undefined, numberIsText);
    return inner.map((e) => ({
      start: d.rawStart(e.start), end: d.rawEnd(e.end - 1), replacement: escapeQuoted(e.replacement, quote, elixir), detector: e.detector,
    }));
  }

  private tree(text: string, nodes: TermNode[], syntax: TermSyntax, depth: number, allLiterals: boolean): Edit[] {
    const edits: Edit[] = [];
    const elixir = syntax === 'elixir';
    const hooks = this.hooks;

    /** A string's whole contents replaced (kept inside its quotes). */
    const contents = (node: StringNode, detector: string): void => {
      if (node.to <= node.from) return;
      hooks.count(detector);
      const secret = decodeQuoted(text, node.from, node.to).text;
      edits.push({ start: node.from, end: node.to, replacement: escapeQuoted(hooks.replacement(detector, secret), node.quote, elixir), detector });
    };
    /** An atom written anew, quoted: `'…'` in Erlang, `:"…"` in Elixir. */
    const atomText = (node: AtomNode, name: string): string =>
      node.form === 'colon' ? `:"${escapeQuoted(name, '"', true)}"` : `'${escapeQuoted(name, "'")}'`;
    const binaryText = (r: string): string => (elixir ? `"${escapeQuoted(r, '"', true)}"` : `<<"${escapeQuoted(r, '"')}">>`);
    /** Whether a quoted string is a string literal (not an atom): `'…'` is one only in Elixir (an old-style charlist). */
    const literal = (node: StringNode): boolean =>
      node.form === 'binary' || node.form === 'string' || node.form === 'charlist' || (node.form === 'quoted' && elixir);
    const isAtomString = (node: StringNode): boolean => node.form === 'atom' || (node.form === 'quoted' && !elixir);
    // Digits in an Erlang/Elixir binary or charlist are user text; in JSON (or a lone "…") a number, as OTLP/JSON writes int64s.
    let json: boolean | undefined;
    const numberIsText = (node: StringNode): boolean => {
      if (node.form !== 'string') return node.form !== 'keyword';
      json ??= isJson(nodes);
      return !json;
    };
    const keyText = (node: TermNode): string | undefined => {
      if (node.kind === 'string') return decodeQuoted(text, node.from, node.to).text;
      if (node.kind === 'atom' && node.form !== 'alias') return node.name;
      if (node.kind === 'binary' && node.segments.length === 1 && node.segments[0].kind === 'string') {
        const s = node.segments[0];
        return decodeQuoted(text, s.from, s.to).text;
      }
      if (node.kind === 'binary' && node.bytes) return bytesText(node.bytes);
      return undefined;
    };
    const secretKey = (node: TermNode): boolean => {
      const k = keyText(node);
      return k !== undefined && SECRET_KEY_PATTERN.test(k);
    };
    const cookieKey = (node: TermNode): boolean => {
      const k = keyText(node);
      return k !== undefined && /cookie/i.test(k);
    };

    /** Everything secret-capable in a value named secret by its key: strings, atoms, binaries; numbers stay. */
    const secretValue = (value: TermNode[], detector: string): void => {
      for (const node of value) {
        if (node.kind === 'string') contents(node, detector);
        else if (node.kind === 'atom') {
          if (node.form === 'alias' || node.form === 'keyword' || PLAIN_ATOMS.has(node.name)) continue;
          hooks.count(detector);
          edits.push({ start: node.start, end: node.end, replacement: atomText(node, hooks.replacement(detector, node.name)), detector });
        } else if (node.kind === 'binary') {
          binary(node, true, detector);
        } else if (node.kind === 'container') {
          visit(node, true, detector);
        }
      }
    };

    const binary = (node: BinaryNode, all: boolean, detector: string): void => {
      if (node.bytes) {
        if (node.bytes.length === 0) return;
        const decoded = bytesText(node.bytes);
        if (all) {
          hooks.count(detector);
          edits.push({ start: node.start, end: node.end, replacement: binaryText(hooks.replacement(detector, decoded)), detector });
          return;
        }
        const found = this.unit(decoded, depth + 1, undefined, true);
        if (found.length > 0) {
          // The finding's detector decides the form; the binary goes whole.
          edits.push({ start: node.start, end: node.end, replacement: binaryText(hooks.replacement(found[0].detector, decoded)), detector: found[0].detector });
        }
        return;
      }
      for (const seg of node.segments) if (seg.kind === 'string') visit(seg, all, detector);
    };

    const visit = (node: TermNode, all: boolean, detector: string): void => {
      switch (node.kind) {
        case 'string': {
          if (all && literal(node)) {
            contents(node, detector);
            return;
          }
          // `'…'` of that shape is masked in either syntax: an Erlang atom, or an old-style Elixir charlist holding a cookie.
          if (hooks.cookie && (isAtomString(node) || node.form === 'quoted')) {
            const name = decodeQuoted(text, node.from, node.to).text;
            if (COOKIE_SHAPE.test(name)) {
              contents(node, 'distribution_cookie');
              return;
            }
          }
          edits.push(...this.inside(text, node.from, node.to, node.quote, elixir, depth, numberIsText(node)));
          return;
        }
        case 'atom': {
          if (node.form === 'alias' || node.form === 'keyword') return;
          if (hooks.cookie && node.form === 'colon' && COOKIE_SHAPE.test(node.name)) {
            hooks.count('distribution_cookie');
            edits.push({ start: node.start, end: node.end, replacement: atomText(node, hooks.replacement('distribution_cookie', node.name)), detector: 'distribution_cookie' });
            return;
          }
          // A name of lowercase letters, digits and _ (`ok`, `add_item`, `:reply`) holds nothing a built-in detector finds.
          if (hooks.anyText.length === 0 && PLAIN_NAME.test(node.name)) return;
          const found = this.plain(node.name, depth + 1);
          if (found.length > 0) {
            edits.push({ start: node.start, end: node.end, replacement: atomText(node, applyEdits(node.name, found)), detector: found[0].detector });
          }
          return;
        }
        case 'binary':
          binary(node, all, detector);
          return;
        case 'opaque':
          if (node.text) {
            for (const e of this.plain(text.slice(node.start, node.end), depth + 1)) edits.push({ ...e, start: e.start + node.start, end: e.end + node.start });
          }
          return;
        case 'container': {
          const items = node.items;
          // {password, Secret}: a tuple tagged with a secret key.
          const head = node.type === 'tuple' && items.length >= 2 && !items[0].key && items[0].value.length === 1 ? items[0].value[0] : undefined;
          const taggedSecret = head !== undefined && hooks.passwordKeys && secretKey(head);
          const taggedCookie = head !== undefined && hooks.cookie && cookieKey(head);
          for (let i = 0; i < items.length; i++) {
            const item = items[i];
            if (item.key) {
              visit(item.key, false, detector);
              if (hooks.passwordKeys && secretKey(item.key)) {
                secretValue(item.value, 'password_keys');
                continue;
              }
              if (hooks.cookie && cookieKey(item.key) && this.cookieValue(text, item.value)) {
                secretValue(item.value, 'distribution_cookie');
                continue;
              }
            } else if (i === 1 && taggedSecret) {
              secretValue(item.value, 'password_keys');
              continue;
            } else if (i === 1 && taggedCookie && this.cookieValue(text, item.value)) {
              secretValue(item.value, 'distribution_cookie');
              continue;
            }
            for (const v of item.value) visit(v, all, detector);
          }
          return;
        }
        default:
          return;
      }
    };

    for (const node of nodes) visit(node, allLiterals, 'secret_args');
    return resolveEdits(edits);
  }

  /** A value that is one string shaped like a cookie (`<<"ABC…">>`, `"ABC…"`). */
  private cookieValue(text: string, value: TermNode[]): boolean {
    if (value.length !== 1) return false;
    let node = value[0];
    if (node.kind === 'binary' && node.segments.length === 1 && node.segments[0].kind === 'string') node = node.segments[0];
    return node.kind === 'string' && COOKIE_SHAPE.test(decodeQuoted(text, node.from, node.to).text);
  }
}
