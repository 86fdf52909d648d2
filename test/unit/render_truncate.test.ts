/**
 * renderTerm's well-formed truncation, in both syntaxes: the cut falls at an
 * element boundary (or between two characters inside quotes), `...` stands
 * for the rest, every open construct is closed, and the text up to and
 * including `...` fits in max(maxBytes, 3) (only closers follow it).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { renderTerm, type RenderOptions } from '../../src/beam/render.js';
import {
  ErlBitstring, ErlFloat, ErlImproperList, ErlMap, ErlPid, ErlTuple, type Term,
} from '../../src/beam/terms.js';
import { prng } from '../helpers.js';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const ELIXIR: RenderOptions = { syntax: 'elixir' };
const SYNTAXES: Array<[string, RenderOptions]> = [['erlang', {}], ['elixir', ELIXIR], ['elixir quotes', { syntax: 'elixir', elixirCharlists: 'quotes' }]];

const CART = new ErlTuple(['cart', [new ErlTuple(['apple', 5]), new ErlTuple(['pear', 3])], new ErlMap([['owner', enc('ada')]])]);

/** Splits a cut rendering into what precedes `...` and the closers after it. */
function split(text: string): { prefix: string; closers: string } {
  const at = text.lastIndexOf('...');
  assert.ok(at >= 0, `no ... in ${text}`);
  return { prefix: text.slice(0, at), closers: text.slice(at + 3) };
}

/** Brackets and quotes balance (quoted text skipped, escapes honoured). Enough for the terms below, which hold no operator atoms. */
function balanced(text: string): boolean {
  const stack: string[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"' || c === "'") {
      let j = i + 1;
      while (j < text.length && text[j] !== c) j += text[j] === '\\' ? 2 : 1;
      if (j >= text.length) return false;
      i = j;
    } else if (text.startsWith('<<', i)) {
      stack.push('>>');
      i++;
    } else if (text.startsWith('>>', i)) {
      if (stack.pop() !== '>>') return false;
      i++;
    } else if (c === '[' || c === '{') {
      stack.push(c === '[' ? ']' : '}');
    } else if (c === ']' || c === '}') {
      if (stack.pop() !== c) return false;
    }
  }
  return stack.length === 0;
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Every property of a cut, for every budget from 0 to past the full length. */
function checkAllCuts(term: Term, options: RenderOptions, label: string): void {
  const full = renderTerm(term, undefined, options);
  for (let max = 0; max <= full.length + 2; max++) {
    const cut = renderTerm(term, max, options);
    const where = `${label}, max ${max}: ${JSON.stringify(cut)} (full ${JSON.stringify(full)})`;
    if (full.length <= max) {
      assert.equal(cut, full, where);
      continue;
    }
    const { prefix, closers } = split(cut);
    assert.ok(full.startsWith(prefix), `prefix of the full text: ${where}`);
    assert.ok(prefix.length + 3 <= Math.max(max, 3), `text before the closers fits: ${where}`);
    assert.ok(cut.length <= Math.max(max, 3) + closers.length, `bound: ${where}`);
    assert.match(closers, /^(["']|\/utf8|>>|[\]}])*$/, `only closers after ...: ${where}`);
    assert.ok(balanced(cut), `well formed: ${where}`);
    assert.ok(!LONE_SURROGATE.test(cut), `no split surrogate pair: ${where}`);
    // Outside quotes `...` is a whole element: right after an opener or a separator.
    if (!/["']$/.test(closers.slice(0, 1))) {
      assert.match(prefix, /(^|[[{,|(]|<<|, | \| |=> )$|#\{$|%\{$|\{$/, `... is an element: ${where}`);
    }
  }
}

describe('renderTerm: well-formed truncation', () => {
  it('stops at an element boundary and closes what was open', () => {
    assert.equal(renderTerm(CART), '{cart,[{apple,5},{pear,3}],#{owner => <<"ada">>}}');
    assert.equal(renderTerm(CART, 20), '{cart,[{apple,5},...]}');
    assert.equal(renderTerm(CART, 30), '{cart,[{apple,5},{pear,3}],...}');
    assert.equal(renderTerm(CART, 40), '{cart,[{apple,5},{pear,3}],#{...}}');
    assert.equal(renderTerm(CART, 46), '{cart,[{apple,5},{pear,3}],#{owner => <<"ad...">>}}');
    assert.equal(renderTerm(CART, 5), '{...}');
    assert.equal(renderTerm(CART, 2), '...');
    assert.equal(renderTerm(CART, 0), '...');
    assert.equal(renderTerm(CART, undefined, ELIXIR), '{:cart, [apple: 5, pear: 3], %{owner: "ada"}}');
    assert.equal(renderTerm(CART, 25, ELIXIR), '{:cart, [apple: 5, ...]}');
    assert.equal(renderTerm(CART, 42, ELIXIR), '{:cart, [apple: 5, pear: 3], %{owner: "..."}}');
    assert.equal(renderTerm(CART, 43, ELIXIR), '{:cart, [apple: 5, pear: 3], %{owner: "a..."}}');
  });

  it('cuts long text inside its quotes and closes them', () => {
    assert.equal(renderTerm(enc('abcdefghijkl'), 12), '<<"abcdef...">>');
    assert.equal(renderTerm(enc('abcdefghijkl'), 12, ELIXIR), '"abcdefgh..."');
    assert.equal(renderTerm(enc('über alles, über alles'), 12), '<<"über a..."/utf8>>');
    assert.equal(renderTerm([...'abcdefghij'].map((c) => c.charCodeAt(0)), 6), '"ab..."');
    assert.equal(renderTerm([...'abcdefghij'].map((c) => c.charCodeAt(0)), 8, { syntax: 'elixir', elixirCharlists: 'quotes' }), "'abcd...'");
    assert.equal(renderTerm([...'abcdefghij'].map((c) => c.charCodeAt(0)), 8, ELIXIR), '~c"ab..."');
    assert.equal(renderTerm([...'abc'].map((c) => c.charCodeAt(0)), undefined, ELIXIR), '~c"abc"');
    assert.equal(renderTerm(Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]), 10), '<<1,2,...>>');
    assert.equal(renderTerm(Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]), 12, ELIXIR), '<<1, 2, ...>>');
    assert.equal(renderTerm(new ErlBitstring(Uint8Array.from([1, 2, 3, 0xa0]), 3), 8), '<<1,...>>');
  });

  it('never splits an escape or a surrogate pair', () => {
    const texts = ['a\n\tb"c\\d\u0001e\u001bf', '😀😀😀x😀', '中文😀 and #{interpolation}', 'ab\u0007\u007fcd'];
    for (const text of texts) {
      const bytes = enc(text);
      const chars = Array.from(text);
      for (const [name, options] of SYNTAXES) {
        // Every cut inside the quotes must show exactly the rendering of a prefix of the characters.
        const bodies = new Set<string>(['']);
        for (let k = 0; k <= chars.length; k++) {
          const prefix = renderTerm(enc(chars.slice(0, k).join('')), undefined, options);
          bodies.add(prefix.replace(/^(<<)?"|"(\/utf8)?(>>)?$/g, ''));
        }
        const full = renderTerm(bytes, undefined, options);
        for (let max = 0; max < full.length; max++) {
          const cut = renderTerm(bytes, max, options);
          assert.ok(!LONE_SURROGATE.test(cut), `${name} ${JSON.stringify(text)} at ${max}: ${cut}`);
          const m = /^(?:<<)?"(.*)\.\.\."/s.exec(cut);
          if (m) assert.ok(bodies.has(m[1]), `${name} ${JSON.stringify(text)} at ${max}: ${JSON.stringify(cut)} cuts inside a character or escape`);
        }
        checkAllCuts(bytes, options, `${name} ${JSON.stringify(text)}`);
      }
    }
  });

  it('holds the bound and stays well formed for every budget, in both syntaxes', () => {
    const rand = prng(0x7e57);
    const int = (n: number): number => Math.floor(rand() * n);
    const atoms = ['ok', 'error', 'cart', 'Elixir.Shop.Item', 'hello world', 'a', 'nil', '__struct__'];
    const texts = ['ada', 'x', '', 'line\nbreak', 'über', '😀!', 'quote"s', 'a#{b}'];
    const gen = (depth: number): Term => {
      switch (depth <= 0 ? int(7) : int(13)) {
        case 0: return int(1000) - 500;
        case 1: return atoms[int(atoms.length)];
        case 2: return enc(texts[int(texts.length)]);
        case 3: return Uint8Array.from({ length: int(6) }, () => int(256));
        case 4: return [...texts[int(texts.length)]].map((c) => c.codePointAt(0) as number);
        case 5: return new ErlFloat(rand() * 100);
        case 6: return new ErlPid('app@host', int(500), 0, 1);
        case 7: case 8: return Array.from({ length: int(5) }, () => gen(depth - 1));
        case 9: case 10: return new ErlTuple(Array.from({ length: int(5) }, () => gen(depth - 1)));
        case 11: return new ErlMap(Array.from({ length: int(4) }, (_, i) => [int(2) ? atoms[i] : gen(0), gen(depth - 1)] as [Term, Term]));
        default: return new ErlImproperList(Array.from({ length: 1 + int(3) }, () => gen(depth - 1)), int(2) ? 'tail' : 7);
      }
    };
    for (let i = 0; i < 60; i++) {
      const term = gen(3);
      for (const [name, options] of SYNTAXES) checkAllCuts(term, options, `${name} term ${i}`);
    }
    checkAllCuts(CART, {}, 'cart');
    checkAllCuts(CART, ELIXIR, 'cart (elixir)');
  });

  it('stops rendering once the budget is passed', () => {
    // Counted, not timed: how many of a 1M-element list's elements the renderer reads.
    let reads = 0;
    const items = Array.from({ length: 1_000_000 }, (_, i) => new ErlTuple(['item', i, enc('some text')]));
    const huge = new Proxy(items, {
      get(target, key, receiver) {
        if (typeof key === 'string' && /^\d+$/.test(key)) reads++;
        return Reflect.get(target, key, receiver) as unknown;
      },
    });
    const bigText = enc('x'.repeat(20_000_000));
    for (const options of [{}, ELIXIR]) {
      reads = 0;
      const cut = renderTerm(huge, 1024, options);
      assert.ok(reads > 0 && reads < 1_000, `${reads} of the list's 1 000 000 elements read`);
      const cutText = renderTerm(bigText, 1024, options);
      for (const text of [cut, cutText]) {
        const { prefix, closers } = split(text);
        assert.ok(prefix.length + 3 <= 1024 && text.length <= 1024 + closers.length, text.slice(-40));
      }
    }
  });
});
