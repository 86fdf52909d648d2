/**
 * The inspection layer's answers as terminal text: at most 100 columns, long
 * terms cut with "…", colour only when asked (a TTY without NO_COLOR).
 */
import { receivedLabel } from '../beam/rendered_text.js';
import { fit } from '../util/text.js';
import type { CrashStory, CrashSummary, SpanRef } from './types.js';

export const WIDTH = 100;
export { fit };

export interface Style {
  bold(s: string): string;
  dim(s: string): string;
  red(s: string): string;
}

export const plain: Style = { bold: (s) => s, dim: (s) => s, red: (s) => s };
const ansi: Style = {
  bold: (s) => `\x1b[1m${s}\x1b[22m`,
  dim: (s) => `\x1b[2m${s}\x1b[22m`,
  red: (s) => `\x1b[31m${s}\x1b[39m`,
};

/** Colour for a TTY, never with NO_COLOR (any value) or when output is piped. */
export function styleFor(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): Style {
  return stream.isTTY === true && env.NO_COLOR === undefined ? ansi : plain;
}

/** A labelled value on one line, the value cut to what is left of the width. */
export function field(label: string, value: string, indent = 2): string {
  const head = `${' '.repeat(indent)}${label.padEnd(14)} `;
  return head + fit(value, WIDTH - head.length);
}

export const shortTime = (iso: string): string => iso.replace('T', ' ').slice(0, 23);

/** A registered name as Elixir users write it (`Elixir.Shop.Cart` → `Shop.Cart`). */
export const shownName = (name: string): string => name.replace(/^Elixir\./, '');

export function who(pid: string, name: string | null): string {
  return name ? `${pid} (${shownName(name)})` : pid;
}

export function crashesText(crashes: readonly CrashSummary[], style: Style = plain): string {
  if (crashes.length === 0) return 'no crashes in the archive for these filters\n';
  const lines: string[] = [];
  // Fixed columns (time, pid, name), so a line's cut does not move with the length of a pid.
  lines.push(style.dim(`${'time'.padEnd(23)}  ${'pid'.padEnd(13)}  ${'name'.padEnd(18)}  reason`));
  const line = (c: CrashSummary, depth: number): void => {
    const pid = `${depth === 0 ? '' : `${'  '.repeat(depth - 1)}└ `}${c.pid}`;
    const head = `${shortTime(c.time.iso)}  ${fit(pid, 13).padEnd(13)}  ${fit(c.registeredName ? shownName(c.registeredName) : '', 18).padEnd(18)}  `;
    const reason = fit(c.reason, WIDTH - head.length);
    lines.push(head + (depth === 0 ? style.red(reason) : reason));
    for (const next of c.consequences) line(next, depth + 1);
  };
  for (const c of crashes) line(c, 0);
  const roots = crashes.filter((c) => c.rootCause).length;
  lines.push(style.dim(`${roots} root cause${roots === 1 ? '' : 's'}, ${crashes.reduce((n, c) => n + c.consequences.length, crashes.length - roots)} other crashes; \`inspect crash PID\` tells one`));
  return `${lines.join('\n')}\n`;
}

function spanText(s: SpanRef): string {
  const ms = Number(BigInt(s.durationNs)) / 1e6;
  return `${s.name} (${s.pid ?? '?'}, ${ms < 1 ? ms.toFixed(3) : ms.toFixed(1)} ms, ${s.status}) span ${s.spanId}`;
}

export function crashText(story: CrashStory, style: Style = plain): string {
  const c = story.crash;
  const out: string[] = [];
  out.push(`${style.bold('crash')} ${fit(who(c.pid, c.registeredName), WIDTH - 6)}`);
  out.push(field('node', c.node));
  out.push(field('time', c.time.iso));
  out.push(field('reason', c.reason));
  if (story.exception) out.push(field('exception', story.exception));
  if (c.initialCall) out.push(field('process', c.initialCall));
  out.push(field('verdict', `${c.rootCause ? 'root cause' : `caused by the crash of ${c.rootPid}`} (rule ${c.rule})`));
  if (story.causedBy) out.push(field('taken down by', `${story.causedBy.pid}${story.causedBy.inferred ? ' (inferred)' : ''}`));
  if (story.poison) {
    out.push(field('poison', story.poison.message));
    if (story.poison.sender) out.push(field('sent by', story.poison.sender));
    if (story.poison.senderSpan) out.push(field('sender doing', spanText(story.poison.senderSpan)));
    else if (story.poison.senderSpanId) out.push(field('sender doing', `span ${story.poison.senderSpanId} (not ended yet)`));
  }
  if (story.stack.length > 0) {
    out.push('  stack');
    for (const frame of story.stack.slice(0, 12)) out.push(`    ${fit(frame, WIDTH - 4)}`);
  }
  if (story.lastMessages.length > 0) {
    out.push('  last messages');
    for (const m of story.lastMessages.slice(-8)) out.push(`    ${fit(`${m.from ? `${m.from} → ` : ''}${receivedLabel(m.message)}`, WIDTH - 4)}`);
  }
  if (story.stateBefore) out.push(field('state before', `#${story.stateBefore.seq}: ${story.stateBefore.state}`));
  if (story.openSpans.length > 0) {
    out.push('  open calls');
    for (const s of story.openSpans) out.push(`    ${fit(spanText(s), WIDTH - 4)}`);
  }
  if (story.diedNext.length > 0 || story.restarts.length > 0) {
    out.push('  cascade');
    out.push(`    ${fit(who(c.pid, c.registeredName), WIDTH - 4)}`);
    // Each process under the one whose exit took it down (the crashed process when that is not known).
    const shown = new Set<string>([c.pid]);
    const children = (parent: string, depth: number): void => {
      for (const d of story.diedNext) {
        const under = d.causedBy !== null && d.causedBy !== '' && story.diedNext.some((x) => x.pid === d.causedBy) ? d.causedBy : c.pid;
        if (under !== parent || shown.has(d.pid)) continue;
        shown.add(d.pid);
        out.push(`${'  '.repeat(depth + 2)}${fit(`└ ${who(d.pid, d.registeredName)}  ${d.reason}`, WIDTH - 2 * (depth + 2))}`);
        children(d.pid, depth + 1);
      }
    };
    children(c.pid, 0);
    for (const r of story.restarts) out.push(`    ${fit(`↻ restarted by ${r.supervisor} as ${r.newPid}${r.initialCall ? ` (${r.initialCall})` : ''}`, WIDTH - 4)}`);
  }
  if (story.trace) out.push(field('trace', `${story.trace.traceId} (${story.trace.spans} spans, ${story.trace.processes} processes)`));
  return `${out.join('\n')}\n`;
}
