/**
 * `generate_exunit_test` (issue 18): an ExUnit test written from a watched
 * GenServer's history in the archive. The test enters the module's
 * gen_server loop in the first recorded state (init/1 is not called),
 * delivers every message the process handled, in order and the way it came
 * (call, cast, plain message), asserts each recorded reply and the state
 * after each message, and ends with the message it crashed on and the crash
 * reason. Its data are ScopeBeam.watch/1's `state.change` events (Elixir
 * inspect text) and the correlation processor's `process.crash` (Erlang
 * text, converted here to Elixir). Text that is no literal (cut at the
 * watch's max bytes, holding pids, refs or funs, `#Name<…>` forms) is not
 * asserted, or its step not replayed, with the reason in a comment and in
 * `skipped`.
 */
import { renderTerm, type RenderOptions } from '../beam/render.js';
import { elixirAtom } from '../beam/render_elixir.js';
import { genCall, genCast } from '../beam/rendered_text.js';
import { parseTerm, type TermNode } from '../beam/term_parse.js';
import { decodeQuoted } from '../beam/term_strings.js';
import { ErlFloat, ErlImproperList, ErlMap, ErlTuple, type Term } from '../beam/terms.js';
import { ScopeError } from '../util/errors.js';
import type { ArchiveReader } from './archive_reader.js';
import { attributesOf } from './rows.js';
import { when } from './time.js';
import type { GeneratedTest } from './types.js';

/** mix format's line length. */
const WIDTH = 98;
const ELIXIR: RenderOptions = { syntax: 'elixir' };
const COLUMNS = `epoch_ns("time")::VARCHAR AS t, node, attributes::VARCHAR AS attributes`;
const ALIAS = /^[A-Z][A-Za-z0-9_]*(\.[A-Z][A-Za-z0-9_]*)*$/;
/** Sigils that stand for literals without an import. */
const SIGIL = /^~[cCsSwWDTNUrR]/;

type Lit = { text: string; node: TermNode };
type Literal = Lit | { why: string };
type Attrs = Record<string, unknown>;

const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);

/** Why a node of Elixir inspect text is no literal, or null when it is one. */
function problem(text: string, node: TermNode): string | null {
  const shown = (): string => text.slice(node.start, Math.min(node.end, node.start + 40));
  switch (node.kind) {
    case 'ellipsis':
      return "it was cut at the watch's max bytes";
    case 'opaque':
      return SIGIL.test(text.slice(node.start, node.start + 2)) ? null : `it holds ${shown()}, which no literal recreates`;
    case 'atom':
      return node.form === 'bare' && !['true', 'false', 'nil'].includes(node.name) ? `${node.name} is not Elixir syntax` : null;
    case 'number':
      return text.slice(node.start, node.end).includes('#') ? `${shown()} is not Elixir syntax` : null;
    case 'binary':
      if (node.segments.some((s) => s.kind === 'ellipsis')) return "it was cut at the watch's max bytes";
      return text.slice(node.start, node.end).includes('/utf') ? `${shown()} is not Elixir syntax` : null;
    case 'container': {
      if (node.type === 'angle') return `it holds ${shown().replace(/<.*$/s, '<…>')}, an inspect form that is no literal`;
      if (text[node.start] === '#') return 'it is not Elixir syntax';
      for (const [i, item] of node.items.entries()) {
        const last = item.value[item.value.length - 1];
        if (item.value.length > 1) {
          const joint = text.slice(item.value[0].end, item.value[1].start).trim();
          if (item.value.length > 2 || joint !== '|' || node.type !== 'list' || i !== node.items.length - 1) {
            return last.kind === 'ellipsis' ? "it was cut at the watch's max bytes" : 'it is not an Elixir term';
          }
        }
        if (item.key && item.key.kind === 'string' && item.key.form !== 'keyword' && !/^\s*=>/.test(text.slice(item.key.end))) return 'it is not Elixir syntax';
        for (const n of [...(item.key ? [item.key] : []), ...item.value]) {
          const why = problem(text, n);
          if (why) return why;
        }
      }
      return null;
    }
    default:
      return null;
  }
}

/** Inspect text (a message, reply or state) as an Elixir literal, or why it is not one. */
function literal(text: string | null): Literal {
  if (text === null) return { why: 'it was not recorded' };
  if (text.endsWith('...')) return { why: "it was cut at the watch's max bytes" };
  const parsed = parseTerm(text);
  if (!parsed || parsed.nodes.length !== 1) return { why: 'it is not an Elixir term' };
  const why = problem(text, parsed.nodes[0]);
  return why ? { why } : { text, node: parsed.nodes[0] };
}

/** A node of Erlang `~0tp` text as a term; null when it holds what no literal recreates (pids, refs, funs, `...`). */
function erlangTerm(text: string, node: TermNode): Term | null {
  const s = text.slice(node.start, node.end);
  switch (node.kind) {
    case 'atom':
      return node.form === 'bare' ? node.name : null;
    case 'string': {
      const decoded = decodeQuoted(text, node.from, node.to).text;
      if (node.form === 'quoted') return decoded;
      return node.form === 'string' ? Array.from(decoded, (c) => c.codePointAt(0) as number) : null;
    }
    case 'number': {
      const based = /^(-?)(\d+)#([0-9A-Za-z]+)$/.exec(s);
      if (!based && /[.eE]/.test(s)) return new ErlFloat(Number(s));
      const n = based ? [...based[3].toLowerCase()].reduce((a, c) => a * BigInt(based[2]) + BigInt(parseInt(c, 36)), 0n) * (based[1] ? -1n : 1n) : BigInt(s);
      return n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n;
    }
    case 'binary': {
      const bytes: number[] = [];
      for (const seg of node.segments) {
        if (seg.kind === 'ellipsis' || text[seg.end] === ':') return null;
        const part = seg.kind === 'string' ? decodeQuoted(text, seg.from, seg.to).text : null;
        if (part !== null && text.startsWith('/utf8', seg.end)) bytes.push(...Buffer.from(part, 'utf8'));
        else if (part !== null) bytes.push(...Array.from(part, (c) => c.codePointAt(0) as number));
        else bytes.push(Number(text.slice(seg.start, seg.end)));
      }
      return bytes.every((b) => Number.isInteger(b) && b >= 0 && b <= 255) ? Uint8Array.from(bytes) : null;
    }
    case 'container': {
      if (node.type === 'angle') return null;
      const values: Term[] = [];
      const entries: Array<[Term, Term]> = [];
      let tail: Term | undefined;
      for (const [i, item] of node.items.entries()) {
        const improper = item.value.length === 2 && node.type === 'list' && i === node.items.length - 1;
        if (item.value.length !== 1 && !improper) return null;
        const v = erlangTerm(text, item.value[0]);
        const k = item.key ? erlangTerm(text, item.key) : null;
        if (v === null || (node.type === 'map') !== (item.key !== undefined) || (item.key && k === null)) return null;
        if (k !== null) entries.push([k, v]);
        else values.push(v);
        if (improper && (tail = erlangTerm(text, item.value[1]) ?? undefined) === undefined) return null;
      }
      if (node.type === 'map') return new ErlMap(entries);
      if (node.type === 'tuple') return new ErlTuple(values);
      return tail === undefined ? values : new ErlImproperList(values, tail);
    }
    default:
      return null;
  }
}

/** Erlang text as an Elixir literal, or why not. */
function fromErlang(text: string): Literal {
  const parsed = parseTerm(text);
  const term = parsed && parsed.nodes.length === 1 ? erlangTerm(text, parsed.nodes[0]) : null;
  return term === null ? { why: 'it holds a pid, ref, port or fun, or was cut' } : literal(renderTerm(term, Infinity, ELIXIR));
}

/** An Elixir pattern for Erlang text: what no literal recreates becomes `_` (a cut list `[a, b | _]`). */
function pattern(text: string, node: TermNode): string {
  const term = erlangTerm(text, node);
  if (term !== null) return renderTerm(term, Infinity, ELIXIR);
  if (node.kind !== 'container' || (node.type !== 'tuple' && node.type !== 'list')) return '_';
  const items = node.items.map((it) => (it.key || it.value.length !== 1 ? '_' : pattern(text, it.value[0])));
  if (node.type === 'tuple') return `{${items.join(', ')}}`;
  const cut = node.items.length > 0 && node.items[node.items.length - 1].value[0].kind === 'ellipsis';
  return cut ? (items.length > 1 ? `[${items.slice(0, -1).join(', ')} | _]` : '_') : `[${items.join(', ')}]`;
}

/** The literal on one line when `used` columns around it leave room, else its outer containers one item a line. */
function pretty(lit: Lit, indent: number, used: number, node: TermNode = lit.node): string {
  const { text } = lit;
  const flat = text.slice(node.start, node.end);
  if (used + flat.length <= WIDTH || node.kind !== 'container' || node.type === 'angle' || node.items.length === 0) return flat;
  const open = text.slice(node.start, text.indexOf(node.type === 'list' ? '[' : '{', node.start) + 1);
  const items = node.items.map((item, i) => {
    const [value, first] = [item.value[0], item.key ?? item.value[0]];
    if (item.value.length !== 1) return pad(indent + 2) + text.slice(first.start, item.value[item.value.length - 1].end);
    const prefix = text.slice(first.start, value.start);
    return pad(indent + 2) + prefix + pretty(lit, indent + 2, indent + 2 + prefix.length + (i < node.items.length - 1 ? 1 : 0), value);
  });
  return `${open}\n${items.join(',\n')}\n${pad(indent)}${text[node.end - 1]}`;
}

const pad = (n: number): string => ' '.repeat(n);
const flatText = (lit: Lit): string => lit.text.slice(lit.node.start, lit.node.end);

/** `assert left == lit` laid out as mix format does: on one line, hugging a map or list, or broken after `==`. */
function assertEqual(indent: number, left: string, lit: Lit): string {
  const before = `assert ${left} == `;
  const hugs = lit.node.kind === 'container' && lit.node.type !== 'tuple';
  if (indent + before.length + flatText(lit).length <= WIDTH || hugs) return pad(indent) + before + pretty(lit, indent + 7, indent + before.length);
  return `${pad(indent)}assert ${left} ==\n${pad(indent + 9)}${pretty(lit, indent + 9, indent + 9)}`;
}

/** `head(args…, lit)tail` laid out as mix format does: on one line, one argument a line, or hugging the last. */
function call(indent: number, head: string, args: string[], lit: Lit, tail = ''): string {
  const one = `${head}(${[...args, flatText(lit)].join(', ')})${tail}`;
  if (indent + one.length <= WIDTH) return pad(indent) + one;
  if (args.length > 0 && indent + 2 + flatText(lit).length <= WIDTH) {
    return `${pad(indent)}${head}(\n${[...args, flatText(lit)].map((x) => pad(indent + 2) + x).join(',\n')}\n${pad(indent)})${tail}`;
  }
  const before = `${head}(${args.map((x) => `${x}, `).join('')}`;
  return pad(indent) + before + pretty(lit, indent, indent + before.length + tail.length + 1) + ')' + tail;
}

/** `name = head(args…, lit)`, broken after `=` when it spans lines. */
function bind(indent: number, name: string, head: string, args: string[], lit: Lit): string {
  const line = call(indent, `${name} = ${head}`, args, lit);
  return line.includes('\n') ? `${pad(indent)}${name} =\n${call(indent + 2, head, args, lit)}` : line;
}

/** `:sys.replace_state(pid, fn _ -> lit end)`. */
function replaceState(indent: number, lit: Lit): string {
  const one = `${pad(indent)}:sys.replace_state(pid, fn _ -> ${flatText(lit)} end)`;
  return one.length <= WIDTH ? one : `${pad(indent)}:sys.replace_state(pid, fn _ ->\n${pad(indent + 2)}${pretty(lit, indent + 2, indent + 2)}\n${pad(indent)}end)`;
}

/** Macro.underscore of an alias segment: `CReplayTest` → `c_replay_test`. */
const underscore = (s: string): string => s.replace(/([a-z0-9])([A-Z])|([A-Z])([A-Z][a-z])/g, '$1$3_$2$4').toLowerCase();

/** Statements with a blank line around each that spans lines (a comment before one stays with it), as mix format leaves them. */
function spaced(lines: readonly string[]): string[] {
  const out: string[] = [];
  const comment = (l: string | undefined): boolean => l !== undefined && l.trimStart().startsWith('#');
  for (const line of lines) {
    const prev = out[out.length - 1];
    if (prev !== undefined && prev !== '' && line !== '' && ((line.includes('\n') && !comment(prev)) || prev.includes('\n'))) out.push('');
    out.push(line);
  }
  return out;
}

/**
 * The ExUnit test replaying `pid`'s recorded history. `node`: the node the
 * pid is on (needed when the archive has the pid on several); `moduleName`:
 * the test module (default the GenServer's module + `ReplayTest`).
 */
export async function generateExUnitTest(reader: ArchiveReader, pid: string, options: { node?: string; moduleName?: string } = {}): Promise<GeneratedTest> {
  const rows = await reader.rows(`SELECT ${COLUMNS} FROM events WHERE "type" = 'state.change' AND pid = $1 AND ($2::VARCHAR IS NULL OR node = $2) ORDER BY "time", id`, [pid, options.node ?? null]);
  if (rows.length === 0) throw new ScopeError('QUERY_FAILED', `${pid}${options.node === undefined ? '' : ` on ${options.node}`} has no recorded state history (no state.change events): not watched: call ScopeBeam.watch/1 on it`);
  const nodes = [...new Set(rows.map((r) => String(r.node)))];
  if (nodes.length > 1) throw new ScopeError('QUERY_FAILED', `${pid} has a state history on several nodes (${nodes.join(', ')}): name the node`);
  const node = nodes[0];
  const history = rows.map((r) => ({ t: BigInt(String(r.t)), a: attributesOf(r) }))
    .sort((x, y) => (x.t === y.t ? Number(x.a.seq ?? 0) - Number(y.a.seq ?? 0) : x.t < y.t ? -1 : 1));
  const [crashRow] = await reader.rows(`SELECT ${COLUMNS} FROM events WHERE "type" = 'process.crash' AND pid = $1 AND node = $2 AND epoch_ns("time") >= $3 ORDER BY "time", id LIMIT 1`, [pid, node, history[history.length - 1].t]);

  const raw = str(history[0].a['beam.module']);
  if (raw === null) throw new ScopeError('QUERY_FAILED', `${pid}'s state.change events name no module (beam.module)`);
  const module = ALIAS.test(raw) ? raw : raw.startsWith(':') ? raw : elixirAtom(raw);
  const testModule = options.moduleName ?? `${ALIAS.test(module) ? module : raw.replace(/^:/, '').split(/[^A-Za-z0-9]+/).filter(Boolean).map((w) => w[0].toUpperCase() + w.slice(1)).join('')}ReplayTest`;
  if (!ALIAS.test(testModule)) throw new ScopeError('QUERY_FAILED', `test module name ${JSON.stringify(testModule)} is no Elixir alias (like MyApp.CartReplayTest)`);
  const fileName = `${underscore(testModule.split('.').pop() as string)}.exs`;

  const skipped: string[] = [];
  const body: string[] = [];
  const skip = (what: string, why: string): void => {
    skipped.push(`${what}: ${why}`);
    body.push(`    # ${what}: ${why}`);
  };
  const start = history.findIndex((h) => 'text' in literal(str(h.a.old_state)));
  if (start < 0) throw new ScopeError('QUERY_FAILED', `${pid}'s recorded states are no Elixir literals (${(literal(str(history[0].a.old_state)) as { why: string }).why}): the test cannot start ${module} in one`);
  for (let i = 0; i < start; i++) skipped.push(`seq ${String(history[i].a.seq)}: not replayed: the state before it is no literal`);
  const head = bind(4, 'pid', 'start_recorded', [], literal(str(history[start].a.old_state)) as Lit);

  let steps = 0;
  let inSync = true;
  let lastNew: Attrs | null = null;
  /** Brings the process to the recorded state `text` when the replay left it; false when that cannot be done. */
  const sync = (text: string | null, why: string): boolean => {
    const lit = literal(text);
    if (inSync || !('text' in lit)) return inSync;
    body.push(`    # ${why}: the state is set to the recorded one.`, replaceState(4, lit));
    return (inSync = true);
  };
  const deliver = (kind: string, message: Lit): string => call(4, kind === 'call' ? 'GenServer.call' : kind === 'cast' ? 'GenServer.cast' : 'send', ['pid'], message);
  for (let i = start; i < history.length; i++) {
    const a = history[i].a;
    const [kind, from, seq] = [String(a.kind), str(a['beam.from']), `seq ${String(a.seq)}`];
    if (body.length > 0) body.push('');
    body.push(`    # ${i + 1}. ${kind === 'continue' ? 'handle_continue' : kind}${from ? ` from ${from}` : ''}, ${seq} at ${when(history[i].t).iso}`);
    if (lastNew && inSync && a.old_digest !== lastNew.new_digest) {
      inSync = false;
      sync(str(a.old_state), `the archive has no record of what changed the state after seq ${String(lastNew.seq)}`);
    }
    lastNew = a;
    if (kind === 'continue') {
      if (!inSync) skip(seq, 'not replayed: a handle_continue runs only after the message before it, which was not replayed');
      else body.push('    # (it ran by itself after the message before)');
    } else {
      const message = literal(str(a['beam.message']));
      if (!sync(str(a.old_state), 'the step before was not replayed') || !('text' in message)) {
        skip(`${seq} (${kind})`, `not replayed: ${'why' in message ? `its message: ${message.why}` : 'the state before it is no literal'}`);
        inSync = false;
        continue;
      }
      steps++;
      const reply = literal(str(a['beam.reply']));
      if (kind === 'call' && 'text' in reply) {
        const line = `    assert GenServer.call(pid, ${message.text}) == ${reply.text}`;
        body.push(...(line.length <= WIDTH ? [line] : [bind(4, 'reply', 'GenServer.call', ['pid'], message), assertEqual(4, 'reply', reply)]));
      } else {
        body.push(deliver(kind, message));
        if (kind === 'call') skip(`the reply to ${seq}`, `not asserted: ${(reply as { why: string }).why}`);
      }
    }
    if (!inSync) continue;
    const state = literal(str(a.new_state));
    if (history[i + 1]?.a.kind === 'continue') body.push('    # (its state is asserted after the handle_continue that follows)');
    else if ('text' in state) body.push(assertEqual(4, ':sys.get_state(pid)', state));
    else skip(`the state after ${seq}`, `not asserted: ${state.why}`);
  }

  let crashed = false;
  const crash = crashRow ? attributesOf(crashRow) : null;
  if (crash) {
    const poison = str(crash['scope.crash.poison_message']);
    const reason = str(crash['beam.reason']) ?? '';
    const gen = poison === null ? null : genCall(poison);
    const cast = poison === null || gen ? null : genCast(poison);
    const kind = gen ? 'call' : cast !== null ? 'cast' : 'info';
    const message = poison === null ? null : fromErlang(gen ? gen.request : cast ?? poison);
    const sender = str(crash['scope.crash.poison_sender']);
    body.push('', `    # ${history.length + 1}. ${kind}${sender ? ` from ${sender}` : ''} at ${when(BigInt(String(crashRow.t))).iso}: the message it crashed on`);
    if (message === null) skip('the crash', `not replayed: it did not happen while handling a message (${reason.slice(0, 80)})`);
    else if (!('text' in message)) skip('the crash', `not replayed: the message it crashed on (${poison}) ${message.why}`);
    else if (!sync(lastNew ? str(lastNew.new_state) : null, 'the step before was not replayed')) skip('the crash', 'not replayed: the state before it is no literal');
    else {
      crashed = true;
      steps++;
      const error = str(crash['beam.exception.error']);
      const parsed = parseTerm(error ?? reason);
      const inner = parsed && parsed.nodes.length === 1 ? pattern(error ?? reason, parsed.nodes[0]) : '_';
      const expected = error !== null ? `{${inner}, _}` : inner;
      if (/^[{_, }]*$/.test(expected)) skipped.push(`the crash reason: only its shape is asserted (${reason.slice(0, 80)})`);
      body.push('    ref = Process.monitor(pid)', gen ? call(4, 'catch_exit(GenServer.call', ['pid'], message, ')') : deliver(kind, message));
      body.push(`    # Its exit reason, as recorded (class ${String(crash['beam.reason.class'] ?? 'unknown')})${error !== null ? ', the stacktrace not compared' : ''}:`);
      body.push('    assert_receive {:DOWN, ^ref, :process, ^pid, reason}, 1_000', `    assert ${expected} = reason`);
    }
  }

  const t1 = when(history[0].t).iso;
  const t2 = when(crashRow ? BigInt(String(crashRow.t)) : history[history.length - 1].t).iso;
  const title = `replays the ${steps - (crashed ? 1 : 0)} recorded messages of ${pid}${crashed ? ' and the one it crashed on' : ''}`;
  const source = [
    `# Generated by scope-pipeline from the recorded history of ${pid} (${module})`,
    `# on ${node}`,
    `# between ${t1} and ${t2}`,
    `# (ScopeBeam.watch/1's state.change events${crash ? ' and the process.crash that ended it' : ''}).`,
    '#',
    `# Starts ${module} in the first recorded state without calling init/1, delivers`,
    '# the messages the process handled, in order and the way they came (call, cast',
    '# or plain message), and asserts each recorded reply and the state after each.',
    ...(crash ? ['# Then the message it crashed on, and the crash reason.'] : []),
    ...(skipped.length > 0 ? ['#', '# Not replayed or not asserted:', ...skipped.map((s) => `#   - ${s}`)] : []),
    `defmodule ${testModule} do`,
    '  use ExUnit.Case, async: false',
    ...(crashed ? ['', '  # The crash report is shown only when the test fails.', '  @moduletag :capture_log'] : []),
    '',
    `  test ${JSON.stringify(title)} do`,
    head,
    '',
    ...spaced(body),
    '  end',
    '',
    `  # Enters ${module}'s gen_server loop in \`state\`, as the process was when it was watched.`,
    '  defp start_recorded(state) do',
    `    pid = :proc_lib.spawn(fn -> :gen_server.enter_loop(${module}, [], state) end)`,
    '    on_exit(fn -> Process.exit(pid, :kill) end)',
    '    pid',
    '  end',
    'end',
    '',
  ].join('\n');
  return { pid, node, module, testModule, fileName, source, steps, crash: crash !== null, skipped };
}
