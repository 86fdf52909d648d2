/** Function names as BEAM developers write them: `Shop.Cart.add/2` for Elixir modules, `cart:add/2` for Erlang ones. */

export interface Mfa {
  /** `Shop.Cart` (Elixir) or `cart` (Erlang). */
  module: string;
  function: string;
  arity: number;
  elixir: boolean;
}

/** Reads one atom as the renderer writes it: bare, or single-quoted with `\'` and `\\` escapes. */
function readAtom(text: string, start: number): [string, number] | null {
  if (text[start] !== "'") {
    let end = start;
    while (end < text.length && text[end] !== ':' && text[end] !== '/') end++;
    return end > start ? [text.slice(start, end), end] : null;
  }
  let out = '';
  for (let i = start + 1; i < text.length; i++) {
    const c = text[i];
    if (c === '\\' && i + 1 < text.length) {
      out += text[++i];
    } else if (c === "'") {
      return [out, i + 1];
    } else {
      out += c;
    }
  }
  return null;
}

/** `'Elixir.Shop.Cart':add/2` → { module: 'Shop.Cart', function: 'add', arity: 2, elixir: true }; null if it is not an MFA. */
export function parseMfa(text: string): Mfa | null {
  const m = readAtom(text, 0);
  if (!m || text[m[1]] !== ':') return null;
  const f = readAtom(text, m[1] + 1);
  if (!f || text[f[1]] !== '/') return null;
  const arityText = text.slice(f[1] + 1);
  if (!/^\d+$/.test(arityText)) return null;
  const elixir = m[0].startsWith('Elixir.');
  return { module: elixir ? m[0].slice(7) : m[0], function: f[0], arity: Number(arityText), elixir };
}

/** The span name for a function: `Shop.Cart.add/2` or `cart:add/2`. */
export function functionName(mfa: Mfa): string {
  return `${mfa.module}${mfa.elixir ? '.' : ':'}${mfa.function}/${mfa.arity}`;
}
