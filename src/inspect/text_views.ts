/**
 * Terminal text for the process, tree, state, trace, message and anomaly
 * answers, in the same 100 columns and style as the crash views (text.ts).
 */
import { messageLabel } from '../beam/rendered_text.js';
import { field, fit, plain, shortTime, shownName, who, WIDTH, type Style } from './text.js';
import type { AnomalySeen, MessageSequence, ProcessTimeline, ProcessTree, StateAt, TimelineEntry, TraceView, TreeNode } from './types.js';

const clock = (iso: string): string => iso.slice(11, 26); // 15:04:05.123456
const ms = (ns: string | bigint): string => {
  const v = Number(BigInt(ns)) / 1e6;
  return `${v < 1 ? v.toFixed(3) : v < 100 ? v.toFixed(2) : v.toFixed(0)} ms`;
};

/** Text longer than a line, broken into lines of `width` (at most `max` lines, the last ending in "…" when cut). */
function wrap(text: string, width: number, max = 12): string[] {
  const chars = [...text.replace(/\s+/g, ' ')];
  const lines: string[] = [];
  for (let i = 0; i < chars.length && lines.length < max; i += width) lines.push(chars.slice(i, i + width).join(''));
  if (lines.length * width < chars.length) lines[lines.length - 1] = `${[...lines[lines.length - 1]].slice(0, width - 1).join('')}…`;
  return lines.length > 0 ? lines : [''];
}

const ARROWS: Partial<Record<TimelineEntry['kind'], string>> = { send: '→', receive: '←', call: '▸', return: '◂', exception: '✗', crash: '✗', exit: '■' };

export function processText(timeline: ProcessTimeline, style: Style = plain): string {
  const p = timeline.process;
  const out: string[] = [];
  out.push(`${style.bold('process')} ${fit(`${who(p.pid, p.names[0] ?? null)} on ${p.node}`, WIDTH - 8)}`);
  if (p.initialCall) out.push(field('initial call', `${p.initialCall}${p.behaviour ? ` (${p.behaviour})` : ''}`));
  out.push(field('spawned', `${p.spawnedBy ? `by ${p.spawnedBy}` : 'by ?'}${p.spawnedAt ? ` at ${shortTime(p.spawnedAt.iso)}` : ' (before the attach)'}`));
  if (p.names.length > 0) out.push(field('names', p.names.map(shownName).join(', ')));
  if (p.exit) out.push(field('exit', `${shortTime(p.exit.time.iso)}  ${p.exit.reason}`));
  if (p.crashId) out.push(field('crash', `\`inspect crash ${p.pid}\` tells it`));
  out.push('');
  out.push(style.dim(`${'time'.padEnd(15)}  ${'event'.padEnd(10)}  ${'peer'.padEnd(13)}  what`));
  for (const e of timeline.entries) {
    const head = `${clock(e.time.iso)}  ${`${ARROWS[e.kind] ?? ' '} ${e.kind}`.padEnd(10)}  ${fit(e.peer ?? '', 13).padEnd(13)}  `;
    const line = head + fit(e.text, WIDTH - head.length);
    out.push(e.kind === 'crash' || e.kind === 'exception' ? style.red(line) : line);
  }
  if (timeline.total > timeline.entries.length) out.push(style.dim(`… ${timeline.total - timeline.entries.length} more; narrow with --from/--to`));
  return `${out.join('\n')}\n`;
}

export function treeText(tree: ProcessTree, style: Style = plain): string {
  const out: string[] = [];
  if (tree.nodes.length === 0) return `no processes known at ${tree.at.iso} (nothing traced before then)\n`;
  for (const n of tree.nodes) {
    out.push(`${style.bold('processes')} alive at ${shortTime(tree.at.iso)} on ${fit(n.node, WIDTH - 45)} (${n.processes})`);
    const line = (t: TreeNode, prefix: string, last: boolean, top: boolean): void => {
      const branch = top ? '' : last ? '└─ ' : '├─ ';
      const label = [t.pid, t.name ? shownName(t.name) : null, t.behaviour ?? t.initialCall, t.spawnedAt ? `since ${clock(t.spawnedAt.iso)}` : null]
        .filter((x): x is string => x !== null).join('  ');
      out.push(fit(`${prefix}${branch}${label}`, WIDTH));
      const next = top ? '' : `${prefix}${last ? '   ' : '│  '}`;
      t.children.forEach((c, i) => line(c, next, i === t.children.length - 1, false));
    };
    for (const root of n.roots) line(root, '', true, true);
  }
  return `${out.join('\n')}\n`;
}

export function stateText(s: StateAt, style: Style = plain): string {
  const out: string[] = [];
  out.push(`${style.bold('state')} ${fit(`of ${s.pid}${s.module ? ` (${s.module})` : ''} at ${s.at.iso}`, WIDTH - 6)}`);
  out.push('');
  for (const line of wrap(s.state ?? '(not known: nothing of the process was recorded before then)', WIDTH - 4)) out.push(`    ${line}`);
  out.push('');
  if (s.change) {
    const c = s.change;
    out.push(field('since', `#${c.seq} at ${shortTime(c.time.iso)}: ${c.kind} ${c.message ?? ''}`));
    if (c.from) out.push(field('from', c.from));
    if (c.reply !== null) out.push(field('replied', c.reply));
    if (!c.changed) out.push(field('change', 'none (the state was already this)'));
    for (const [k, d] of Object.entries(c.diff)) out.push(field(`  ${k}`, `${d.old ?? '(absent)'} → ${d.new ?? '(absent)'}`));
    if (c.changed && Object.keys(c.diff).length === 0) out.push(field('before', c.oldState));
  } else {
    out.push(field('since', 'the watch began (before the first recorded change)'));
  }
  out.push(field('next', s.next ? `#${s.next.seq} at ${shortTime(s.next.time.iso)}` : s.exitedAt ? `none: exited at ${shortTime(s.exitedAt.iso)}` : 'none recorded'));
  out.push(style.dim(`${s.changes} recorded change${s.changes === 1 ? '' : 's'}; \`inspect process ${s.pid}\` shows them in time`));
  return `${out.join('\n')}\n`;
}

const LANE = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
const laneLetter = (i: number): string => (i < LANE.length ? LANE[i] : '?');

/** Name column, lane letter, a 40-cell bar over the trace's duration, the span's own duration. */
export function traceText(t: TraceView, style: Style = plain): string {
  const out: string[] = [];
  out.push(`${style.bold('trace')} ${t.traceId}  ${t.total > t.spans.length ? `the first ${t.spans.length} of ${t.total}` : t.spans.length} spans, ${t.lanes.length} processes, ${ms(t.durationNs)}${t.errors ? `, ${t.errors} error${t.errors === 1 ? '' : 's'}` : ''}`);
  out.push(field('start', t.start.iso));
  const laneOf = new Map<string, string>();
  t.lanes.forEach((l, i) => {
    laneOf.set(`${l.node ?? ''}|${l.pid ?? ''}`, laneLetter(i));
    out.push(fit(`  ${laneLetter(i)}  ${l.pid ?? '(no pid)'}${l.name ? `  ${shownName(l.name)}` : ''}${l.node ? `  on ${l.node}` : ''}  (${l.spans})`, WIDTH));
  });
  out.push('');
  const BAR = 40;
  const NAME = WIDTH - BAR - 2 - 3 - 2 - 10 - 2;
  const total = BigInt(t.durationNs) > 0n ? BigInt(t.durationNs) : 1n;
  for (const s of t.spans) {
    const from = Number((BigInt(s.offsetNs) * BigInt(BAR)) / total);
    const width = Math.max(1, Number((BigInt(s.durationNs) * BigInt(BAR)) / total));
    const cells = Array.from({ length: BAR }, (_, i) => (i >= from && i < from + width ? '█' : '·')).join('');
    const name = fit(`${' '.repeat(Math.min(s.depth, 16))}${s.name}`, NAME).padEnd(NAME);
    const mark = s.status === 'error' ? '✗' : ' ';
    const line = `${name}  ${laneOf.get(`${s.node ?? ''}|${s.pid ?? ''}`) ?? '?'}${mark} |${cells}| ${ms(s.durationNs).padStart(10)}`;
    out.push(s.status === 'error' ? style.red(line) : line);
  }
  return `${out.join('\n')}\n`;
}

/** A message sequence chart: one column per process, one line per message, the arrow from sender to receiver. */
export function sequenceText(seq: MessageSequence, style: Style = plain): string {
  const out: string[] = [];
  const n = seq.processes.length;
  out.push(`${style.bold('messages')} between ${n} processes: ${seq.total} message${seq.total === 1 ? '' : 's'}`);
  seq.processes.forEach((p, i) => out.push(fit(`  ${laneLetter(i)}  ${p.pid}${p.name ? `  ${shownName(p.name)}` : ''}  on ${p.node}`, WIDTH)));
  if (seq.messages.length === 0) return `${out.join('\n')}\n  (none in range)\n`;
  const TIME = 12;
  const spacing = Math.max(6, Math.min(14, Math.floor(48 / Math.max(1, n - 1))));
  const lanes = (n - 1) * spacing + 1;
  const col = new Map<string, number>(seq.processes.map((p, i) => [`${p.node}|${p.pid}`, i * spacing]));
  const start = BigInt(seq.messages[0].time.unixNano);
  out.push(field('from', seq.messages[0].time.iso));
  out.push('');
  out.push(`${''.padEnd(TIME)}${Array.from({ length: lanes }, (_, i) => (i % spacing === 0 ? laneLetter(i / spacing) : ' ')).join('')}`);
  for (const m of seq.messages) {
    const a = col.get(`${m.fromNode}|${m.from}`);
    const b = col.get(`${m.toNode}|${m.to}`);
    const cells: string[] = Array.from({ length: lanes }, (_, i) => (i % spacing === 0 ? '│' : ' '));
    if (a !== undefined && b !== undefined) {
      const [lo, hi] = a < b ? [a, b] : [b, a];
      for (let i = lo + 1; i < hi; i++) cells[i] = '─';
      cells[a] = a === b ? '↺' : '●';
      if (a !== b) cells[a < b ? hi - 1 : lo + 1] = a < b ? '▶' : '◀';
    }
    const head = `+${ms(BigInt(m.time.unixNano) - start).padStart(10)} `.slice(0, TIME).padEnd(TIME) + cells.join('') + '  ';
    out.push(head + fit(`${m.kind} ${messageLabel(m.kind, m.message)}`, WIDTH - [...head].length));
  }
  if (seq.total > seq.messages.length) out.push(style.dim(`… ${seq.total - seq.messages.length} more; narrow with --from/--to`));
  return `${out.join('\n')}\n`;
}

export function anomaliesText(anomalies: readonly AnomalySeen[], style: Style = plain): string {
  if (anomalies.length === 0) return 'no anomalies in the archive for these filters\n';
  const out = [style.dim(`${'time'.padEnd(23)}  ${'kind'.padEnd(14)}  ${'score'.padStart(5)}  key`)];
  for (const a of anomalies) {
    const head = `${shortTime(a.time.iso)}  ${a.kind.padEnd(14)}  ${(a.score === null ? '' : a.score.toFixed(2)).padStart(5)}  `;
    out.push(head + fit(`${a.key}${a.observed !== null ? `  observed ${a.observed}` : ''}${a.expected !== null ? `, expected ${a.expected}` : ''}`, WIDTH - head.length));
  }
  return `${out.join('\n')}\n`;
}
