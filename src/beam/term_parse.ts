/**
 * A parser of rendered terms into a syntax tree that knows where every
 * string, atom and number is (privacy masks inside strings and keeps the term
 * well formed), for both syntaxes the renderer writes — Erlang `~0tp` and
 * Elixir `inspect/2` — and JSON. It refuses text that is no term. One parser
 * for two syntaxes: longer than most files here, for that reason.
 */
import { ANGLE_NAME, BARE_PID, OPAQUE_ANGLE, scanText, skipQuoted } from './term_scan.js';

import type { TermSyntax } from './render.js';

export type { TermSyntax };

/**
 * Where a quoted string sits: `binary` a segment of `<<"…">>`; `string` a
 * bare `"…"` (an Erlang charlist, an Elixir binary, a JSON string); `quoted`
 * `'…'` (an Erlang atom, an old Elixir charlist); `atom` Elixir's `:"…"`;
 * `charlist` `~c"…"`; `keyword` Elixir's quoted keyword key `"my key": v`.
 */
export type StringForm = 'binary' | 'string' | 'quoted' | 'atom' | 'charlist' | 'keyword';

export interface StringNode {
  kind: 'string';
  start: number;
  end: number;
  /** The contents, between the quotes. */
  from: number;
  to: number;
  quote: '"' | "'";
  form: StringForm;
}

export interface AtomNode {
  kind: 'atom';
  start: number;
  end: number;
  name: string;
  /** `bare` (Erlang `ok`, `true`, `nil`), `colon` (Elixir `:ok`), `alias` (Elixir `Foo.Bar`), `keyword` (Elixir `key:`). */
  form: 'bare' | 'colon' | 'alias' | 'keyword';
}

export interface NumberNode { kind: 'number'; start: number; end: number }
export interface EllipsisNode { kind: 'ellipsis'; start: number; end: number }

export interface BinaryNode {
  kind: 'binary';
  start: number;
  end: number;
  segments: Array<StringNode | NumberNode | EllipsisNode>;
  /** The bytes, when the binary is written as whole bytes only (`<<104,105>>`). */
  bytes: number[] | null;
}

export interface ContainerNode {
  kind: 'container';
  start: number;
  end: number;
  type: 'tuple' | 'list' | 'map' | 'angle';
  items: TermItem[];
}

/** Pids, refs, ports, funs, sigils, `#Name<…>` that did not parse: `text` when what is inside may be free text. */
export interface OpaqueNode { kind: 'opaque'; start: number; end: number; text: boolean }

export type TermNode = StringNode | AtomNode | NumberNode | EllipsisNode | BinaryNode | ContainerNode | OpaqueNode;

/** An element of a container: `value` alone, or `key => value`, `key: value`, `"key": value`. `value` is more than one node for `a | b`, `"a" <> ...`. */
export interface TermItem { key?: TermNode; value: TermNode[] }

export interface ParsedTerm {
  nodes: TermNode[];
  /** The syntax the text is written in, from its marks (`%{`, `:atom`, `, ` …); erlang when nothing tells. */
  syntax: TermSyntax;
}

class NotATerm extends Error {}
const NOT_A_TERM = new NotATerm('not a term');

const NUMBER = /-?\d+(?:#[0-9A-Za-z]+)?(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const BARE_ATOM = /[a-z\u00df-\u00f6\u00f8-\u00ff][\w@\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u00ff]*/y;
const ALIAS = /[A-Z][\w]*(?:\.[A-Z][\w]*)*/y;
/** Elixir's operators and other atoms it writes unquoted though they are no identifiers (`+`, `>=`, `<<>>`, `%{}`, `...`), longest first. */
const ELIXIR_OPERATORS = '%\\{\\}|\\.\\.\\/\\/|<<>>|\\.\\.\\.|<<<|>>>|<<~|~>>|<~>|<\\|>|\\|\\|\\||&&&|\\+\\+\\+|---|===|!==|\\^\\^\\^|~~~|\\{\\}|\\\\\\\\|\\.\\.|->|<-|\\|\\||&&|==|!=|=~|<=|>=|\\|>|<~|~>|\\+\\+|--|<>|\\*\\*|::|[&!^+\\-@|=<>*\\/%.]';
const KEYWORD_KEY = new RegExp(`([\\p{L}_][\\p{L}\\p{N}_@]*[?!]?|${ELIXIR_OPERATORS}):(?=\\s)`, 'uy');
const COLON_ATOM = /:([\p{L}_][\p{L}\p{N}_@]*[?!]?)/uy;
const OPERATOR_ATOM = new RegExp(`:(?:${ELIXIR_OPERATORS})`, 'y');
const CAPTURE = /&[^\s,}\])>]+/y;
const ERLANG_FUN = /fun [^\s,}\])>|]+/y;
const STRUCT = /%(?:[A-Z][\w]*(?:\.[A-Z][\w]*)*|:?[a-z_][\w.]*)\{/y;
const BIT_SIZE = /::?(?:size\(\d+\)|\d+|[a-z]\w*(?:\(\d+\))?)/y;
const MAX_NESTING = 400;

function isSpace(c: string | undefined): boolean {
  return c === ' ' || c === '\t' || c === '\n' || c === '\r';
}

class Parser {
  i = 0;
  depth = 0;
  elixir = 0;
  erlang = 0;
  constructor(readonly s: string) {}

  ws(): void {
    while (isSpace(this.s[this.i])) this.i++;
  }

  sticky(re: RegExp): RegExpExecArray | null {
    re.lastIndex = this.i;
    const m = re.exec(this.s);
    if (m) this.i = re.lastIndex;
    return m;
  }

  /** A primary followed by `<>`, `|` or `::` joins. */
  expr(): TermNode[] {
    const out = [this.primary()];
    for (;;) {
      const at = this.i;
      this.ws();
      const s = this.s;
      if (s[this.i] === '<' && s[this.i + 1] === '>') {
        this.elixir++;
        this.i += 2;
      } else if (s[this.i] === '|' && s[this.i + 1] !== '|') {
        // inspect writes ` | `, ~0tp `|`.
        if (this.i > at) this.elixir++;
        else this.erlang++;
        this.i++;
      } else {
        this.i = at;
        return out;
      }
      this.ws();
      out.push(this.primary());
    }
  }

  /** Elixir's `key: ` at the cursor (a keyword list's or a map's key). */
  keywordKey(): RegExpExecArray | null {
    const s = this.s;
    let j = this.i;
    // Fast path: an ASCII identifier not followed by `: ` is no key.
    for (let c = s.charCodeAt(j); (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 95 || c === 64; c = s.charCodeAt(++j));
    const next = s.charCodeAt(j);
    if (j > this.i && next < 128 && next !== 58 && next !== 63 && next !== 33) return null;
    if (j === this.i) {
      // An operator key (`+: `, `<<>>: `) is at most five characters before its colon.
      const colon = s.indexOf(':', j);
      if (colon < 0 || colon > j + 5) return null;
    }
    return this.sticky(KEYWORD_KEY);
  }

  item(): TermItem {
    this.ws();
    const kw = this.keywordKey();
    if (kw) {
      this.elixir++;
      const key: AtomNode = { kind: 'atom', start: kw.index, end: kw.index + kw[1].length, name: kw[1], form: 'keyword' };
      this.ws();
      return { key, value: this.expr() };
    }
    const value = this.expr();
    const at = this.i;
    this.ws();
    const s = this.s;
    if (s[this.i] === '=' && s[this.i + 1] === '>') {
      if (value.length !== 1) throw NOT_A_TERM;
      this.i += 2;
      this.ws();
      return { key: value[0], value: this.expr() };
    }
    const only = value[0];
    if (s[this.i] === ':' && s[this.i + 1] !== ':' && value.length === 1 && only.kind === 'string' && only.form === 'string') {
      // JSON's "key":value, or Elixir's quoted keyword key "my key": value.
      this.i++;
      if (isSpace(s[this.i])) only.form = 'keyword';
      this.ws();
      return { key: only, value: this.expr() };
    }
    this.i = at;
    return { value };
  }

  container(type: ContainerNode['type'], start: number, closer: string): ContainerNode {
    if (++this.depth > MAX_NESTING) throw NOT_A_TERM;
    const s = this.s;
    this.i++; // the opener
    const items: TermItem[] = [];
    this.ws();
    if (s[this.i] === closer) {
      this.i++;
    } else {
      for (;;) {
        items.push(this.item());
        this.ws();
        const c = s[this.i];
        if (c === ',') {
          this.i++;
          // inspect writes `, `; ~0tp never a space after a comma.
          if (s[this.i] === ' ') this.elixir++;
          else this.erlang++;
        } else if (c === closer) {
          this.i++;
          break;
        } else {
          throw NOT_A_TERM;
        }
      }
    }
    this.depth--;
    return { kind: 'container', start, end: this.i, type, items };
  }

  string(start: number, form: StringForm): StringNode {
    const open = this.i;
    const quote = this.s[open] as '"' | "'";
    const close = skipQuoted(this.s, open);
    if (close >= this.s.length) throw NOT_A_TERM;
    this.i = close + 1;
    return { kind: 'string', start, end: this.i, from: open + 1, to: close, quote, form };
  }

  number(): NumberNode {
    const s = this.s;
    const start = this.i;
    // Fast path: plain decimal integers; anything else (floats, 16#FF) by the regular expression.
    let j = s.charCodeAt(start) === 45 ? start + 1 : start;
    const digits = j;
    for (let c = s.charCodeAt(j); c >= 48 && c <= 57; c = s.charCodeAt(++j));
    const after = s.charCodeAt(j);
    if (j > digits && after !== 46 && after !== 35 && after !== 101 && after !== 69) this.i = j;
    else if (!this.sticky(NUMBER)) throw NOT_A_TERM;
    const next = s.charCodeAt(this.i);
    if ((next >= 65 && next <= 90) || (next >= 97 && next <= 122) || next === 95) throw NOT_A_TERM;
    return { kind: 'number', start, end: this.i };
  }

  binary(): BinaryNode {
    const s = this.s;
    const start = this.i;
    this.i += 2;
    const segments: BinaryNode['segments'] = [];
    let bytes: number[] | null = [];
    this.ws();
    if (s[this.i] === '>' && s[this.i + 1] === '>') {
      this.i += 2;
      return { kind: 'binary', start, end: this.i, segments, bytes };
    }
    for (;;) {
      this.ws();
      const c = s[this.i];
      if (c === '"') {
        this.erlang++;
        segments.push(this.string(this.i, 'binary'));
        bytes = null;
        if (s.startsWith('/utf', this.i)) {
          const m = /\/utf(?:8|16|32)/y;
          if (!this.sticky(m)) throw NOT_A_TERM;
        }
      } else if (c === '.' && s.startsWith('...', this.i)) {
        segments.push({ kind: 'ellipsis', start: this.i, end: this.i + 3 });
        this.i += 3;
      } else {
        const n = this.number();
        segments.push(n);
        if (this.sticky(BIT_SIZE)) bytes = null;
        else if (bytes) {
          const v = Number(s.slice(n.start, n.end));
          if (Number.isInteger(v) && v >= 0 && v <= 255) bytes.push(v);
          else bytes = null;
        }
      }
      if (s.startsWith('...', this.i)) {
        segments.push({ kind: 'ellipsis', start: this.i, end: this.i + 3 });
        this.i += 3;
      }
      this.ws();
      if (s[this.i] === ',') {
        this.i++;
        if (s[this.i] === ' ') this.elixir++;
        else this.erlang++;
      } else if (s[this.i] === '>' && s[this.i + 1] === '>') {
        this.i += 2;
        break;
      } else {
        throw NOT_A_TERM;
      }
    }
    return { kind: 'binary', start, end: this.i, segments, bytes };
  }

  /** Past the `>` closing a `#Name<…>` whose inside is no term, honouring quotes and nesting. */
  skipAngle(start: number): number {
    let end = -1;
    scanText(this.s, start, (event, at, stack) => {
      if (event === 'close' && stack.length === 0) {
        end = at + 1;
        return true;
      }
      return false;
    });
    if (end < 0) throw NOT_A_TERM;
    return end;
  }

  primary(): TermNode {
    this.ws();
    const s = this.s;
    const start = this.i;
    const c = s[this.i];
    switch (c) {
      case '{':
        return this.container('tuple', start, '}');
      case '[':
        return this.container('list', start, ']');
      case '#': {
        if (s[this.i + 1] === '{') {
          this.erlang++;
          this.i++;
          return this.container('map', start, '}');
        }
        const m = this.sticky(ANGLE_NAME);
        if (!m) throw NOT_A_TERM;
        if (m[1] === 'PID' || m[1] === 'Reference' || m[1] === 'Function') this.elixir++;
        else if (m[1] === 'Ref' || m[1] === 'Fun') this.erlang++;
        if (OPAQUE_ANGLE.has(m[1])) {
          const gt = s.indexOf('>', this.i);
          if (gt < 0) throw NOT_A_TERM;
          this.i = gt + 1;
          return { kind: 'opaque', start, end: this.i, text: false };
        }
        this.elixir++;
        const lt = this.i - 1;
        const depth = this.depth;
        try {
          this.i = lt;
          const node = this.container('angle', start, '>');
          return node;
        } catch (error) {
          if (error !== NOT_A_TERM) throw error;
          this.depth = depth;
          this.i = this.skipAngle(start);
          return { kind: 'opaque', start, end: this.i, text: true };
        }
      }
      case '%': {
        this.elixir++;
        if (s[this.i + 1] === '{') {
          this.i++;
          return this.container('map', start, '}');
        }
        if (!this.sticky(STRUCT)) throw NOT_A_TERM;
        this.i--;
        return this.container('map', start, '}');
      }
      case '<':
        if (s[this.i + 1] === '<') return this.binary();
        if (!this.sticky(BARE_PID)) throw NOT_A_TERM;
        this.erlang++;
        return { kind: 'opaque', start, end: this.i, text: false };
      case '"':
        return this.string(start, 'string');
      case "'":
        return this.string(start, 'quoted');
      case ':': {
        this.elixir++;
        if (s[this.i + 1] === '"') {
          this.i++;
          return this.string(start, 'atom');
        }
        const m = this.sticky(COLON_ATOM);
        if (m) return { kind: 'atom', start, end: this.i, name: m[1], form: 'colon' };
        const op = this.sticky(OPERATOR_ATOM);
        if (op) return { kind: 'atom', start, end: this.i, name: op[0].slice(1), form: 'colon' };
        throw NOT_A_TERM;
      }
      case '~': {
        this.elixir++;
        const letter = s[this.i + 1];
        const delim = s[this.i + 2];
        if (!letter || !/[A-Za-z]/.test(letter) || delim === undefined) throw NOT_A_TERM;
        if ((letter === 'c' || letter === 'C') && (delim === '"' || delim === "'")) {
          this.i += 2;
          return this.string(start, 'charlist');
        }
        const closeWith: Record<string, string> = { '[': ']', '(': ')', '{': '}', '<': '>' };
        const close = closeWith[delim] ?? delim;
        let j = this.i + 3;
        for (; j < s.length && s[j] !== close; j++) if (s[j] === '\\') j++;
        if (j >= s.length) throw NOT_A_TERM;
        this.i = j + 1;
        while (/[a-zA-Z]/.test(s[this.i] ?? '')) this.i++;
        return { kind: 'opaque', start, end: this.i, text: true };
      }
      case '.':
        if (!s.startsWith('...', this.i)) throw NOT_A_TERM;
        this.i += 3;
        return { kind: 'ellipsis', start, end: this.i };
      case '&':
        this.elixir++;
        if (!this.sticky(CAPTURE)) throw NOT_A_TERM;
        return { kind: 'opaque', start, end: this.i, text: false };
      default:
        break;
    }
    if (c === '-' || (c >= '0' && c <= '9')) return this.number();
    if (c === 'f' && s.startsWith('fun ', this.i)) {
      this.erlang++;
      this.sticky(ERLANG_FUN);
      return { kind: 'opaque', start, end: this.i, text: false };
    }
    let name: string | undefined;
    const first = s.charCodeAt(this.i);
    if (first >= 97 && first <= 122) {
      // Fast path: an ASCII atom.
      let j = this.i + 1;
      for (let k = s.charCodeAt(j); (k >= 97 && k <= 122) || (k >= 65 && k <= 90) || (k >= 48 && k <= 57) || k === 95 || k === 64; k = s.charCodeAt(++j));
      if (!(s.charCodeAt(j) >= 0xc0)) {
        name = s.slice(this.i, j);
        this.i = j;
      }
    }
    if (name === undefined) name = this.sticky(BARE_ATOM)?.[0];
    if (name !== undefined) {
      if (name === 'nil') this.elixir++;
      else if (name !== 'true' && name !== 'false') this.erlang++;
      return { kind: 'atom', start, end: this.i, name, form: 'bare' };
    }
    const alias = this.sticky(ALIAS);
    if (alias) {
      this.elixir++;
      return { kind: 'atom', start, end: this.i, name: alias[0], form: 'alias' };
    }
    throw NOT_A_TERM;
  }
}

/**
 * Parses rendered text as one term (or `a | b`, `"abc" <> ...`); null when it
 * is not one (plain text, a log line). JSON parses too: its objects as tuples
 * of `"key": value` items.
 */
export function parseTerm(text: string): ParsedTerm | null {
  const p = new Parser(text);
  try {
    p.ws();
    const nodes = p.expr();
    p.ws();
    if (p.i !== text.length) return null;
    return { nodes, syntax: p.elixir > p.erlang ? 'elixir' : 'erlang' };
  } catch (error) {
    if (error === NOT_A_TERM || error instanceof RangeError) return null;
    throw error;
  }
}

/**
 * Whether parsed nodes are JSON: objects (`{"k":v}`), arrays, strings,
 * numbers, true, false, null and nothing else (JSON is also an Erlang or
 * Elixir term; its strings hold decimal numbers the way OTLP/JSON writes 64-bit
 * integers).
 */
export function isJson(nodes: readonly TermNode[]): boolean {
  if (nodes.length !== 1) return false;
  const node = nodes[0];
  switch (node.kind) {
    case 'number':
      return true;
    case 'string':
      return node.form === 'string' && node.quote === '"';
    case 'atom':
      return node.form === 'bare' && (node.name === 'true' || node.name === 'false' || node.name === 'null');
    case 'container':
      if (node.type === 'tuple') {
        return node.items.every((it) => it.key !== undefined && it.key.kind === 'string' && it.key.quote === '"'
          && (it.key.form === 'string' || it.key.form === 'keyword') && isJson(it.value));
      }
      return node.type === 'list' && node.items.every((it) => it.key === undefined && isJson(it.value));
    default:
      return false;
  }
}
