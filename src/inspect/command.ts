/**
 * `scope-pipeline inspect VERB …`: the inspection layer's answers on the
 * terminal (table) or as JSON (exactly the layer's typed results).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ScopeError } from '../util/errors.js';
import { listAnomalies } from './anomalies.js';
import { ArchiveReader } from './archive_reader.js';
import { explainCrash, listCrashes } from './crashes.js';
import { fetchWindow, type LiveSource } from './live.js';
import { messageSequence } from './messages.js';
import { processTimeline, processTreeAt, resolveProcess, type ProcessRef } from './processes.js';
import { stateAt } from './state.js';
import { generateExUnitTest } from './test_case.js';
import { crashesText, crashText, styleFor } from './text.js';
import { anomaliesText, processText, sequenceText, stateText, traceText, treeText } from './text_views.js';
import { parseTime } from './time.js';
import { latestErrorTrace, traceView } from './trace.js';

export const INSPECT_VERBS = ['crashes', 'crash', 'process', 'processes', 'state', 'trace', 'messages', 'anomalies', 'test-case'] as const;

export interface InspectOptions {
  archive: string;
  format: 'table' | 'json';
  since?: string;
  from?: string;
  to?: string;
  at?: string;
  node?: string;
  limit?: string;
  /** trace: the trace of the latest span that ended in error. */
  latestError?: boolean;
  /** test-case: write the generated file into this directory instead of printing it. */
  out?: string;
  /** The daemon's inspector extension, read with the archive (a crash seconds old, before any file rolled). */
  daemon?: LiveSource;
  /** Told what a long step is doing (the CLI shows it on stderr when that is a terminal). */
  progress?: (step: string | null) => void;
}

const USAGE: Record<string, string> = {
  crash: 'inspect crash needs one PID (as <0.123.0>), a crash id, or latest',
  process: 'inspect process needs one PID or registered name',
  state: 'inspect state needs one PID or registered name (and --at T; default now)',
  trace: 'inspect trace needs one TRACE_ID, or --latest-error',
  messages: 'inspect messages needs two or more PIDs or registered names',
  'test-case': 'inspect test-case needs one PID or registered name (a watched GenServer)',
};

function time(label: string, text: string | undefined): bigint | undefined {
  if (text === undefined) return undefined;
  const t = parseTime(text);
  if (t === null) throw new UsageError(`--${label} "${text}" is not a time: use RFC 3339 (2026-12-01T15:04:05Z) or relative (-5m, -2h, -1d)`);
  return t;
}

function count(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > 100_000) throw new UsageError(`--limit "${text}" must be a whole number from 1 to 100000`);
  return n;
}

/** Answers one verb; returns what to print, or throws ScopeError / a usage Error. */
export async function inspect(verb: string | undefined, args: string[], options: InspectOptions): Promise<string> {
  if (verb === undefined || !(INSPECT_VERBS as readonly string[]).includes(verb)) {
    throw new UsageError(`inspect needs a verb: ${INSPECT_VERBS.join(', ')}${verb ? ` (not "${verb}")` : ''}`);
  }
  const since = time('since', options.since);
  const from = time('from', options.from) ?? since;
  const to = time('to', options.to);
  const at = time('at', options.at);
  if (from !== undefined && to !== undefined && from > to) throw new UsageError('--from is later than --to');
  const limit = count(options.limit);
  const node = options.node;
  const arity = (ok: boolean): void => {
    if (!ok) throw new UsageError(USAGE[verb] ?? `inspect ${verb} takes no arguments (got ${args.join(' ')})`);
  };
  if (verb === 'processes' && at === undefined) throw new UsageError('inspect processes needs --at T (RFC 3339 or relative, e.g. --at=-5m)');
  if (verb === 'trace') arity(options.latestError === true ? args.length === 0 : args.length === 1);
  else if (verb === 'messages') arity(args.length >= 2);
  else if (['crashes', 'processes', 'anomalies'].includes(verb)) arity(args.length === 0);
  else arity(args.length === 1);

  const progress = options.progress ?? (() => {});
  if (options.daemon) progress(`reading the live window of ${options.daemon.url}`);
  // The window is read from the earliest time any verb asks about (everything, for a state or tree at T).
  const live = options.daemon ? await fetchWindow(options.daemon, verb === 'crashes' || verb === 'anomalies' ? since ?? 0n : 0n) : undefined;
  progress(`reading ${options.archive}`);
  const reader = await ArchiveReader.open(options.archive, live);
  try {
    const style = styleFor(process.stdout);
    const json = options.format === 'json';
    const out = (value: unknown, text: () => string): string => (json ? `${JSON.stringify(value, null, 2)}\n` : text());
    switch (verb) {
      case 'crashes': {
        const crashes = await listCrashes(reader, { since, node, limit });
        return out(crashes, () => crashesText(crashes, style));
      }
      case 'crash': {
        const story = await explainCrash(reader, args[0], { since, node });
        if (!story) throw new ScopeError('QUERY_FAILED', args[0] === 'latest' ? 'no crash in the archive for these filters' : `no crash of ${args[0]} in the archive for these filters`);
        return out(story, () => crashText(story, style));
      }
      case 'process': {
        // A name means the process that had it at the end of the range asked about (else the latest).
        const ref = await resolveProcess(reader, args[0], { node, at: at ?? to ?? from });
        const timeline = await processTimeline(reader, ref, { from, to, limit });
        return out(timeline, () => processText(timeline, style));
      }
      case 'processes': {
        const tree = await processTreeAt(reader, at as bigint, { node });
        return out(tree, () => treeText(tree, style));
      }
      case 'state': {
        const moment = at ?? BigInt(Date.now()) * 1_000_000n;
        const ref = await resolveProcess(reader, args[0], { node, at: moment });
        const state = await stateAt(reader, ref, moment);
        return out(state, () => stateText(state, style));
      }
      case 'trace': {
        const id = options.latestError ? await latestErrorTrace(reader, { node, since }) : args[0].toLowerCase();
        if (id === null) throw new ScopeError('QUERY_FAILED', 'no span ended in error in the archive for these filters');
        const view = await traceView(reader, id);
        return out(view, () => traceText(view, style));
      }
      case 'messages': {
        const refs: ProcessRef[] = [];
        for (const which of args) refs.push(await resolveProcess(reader, which, { node, at: to ?? from }));
        const same = (x: ProcessRef, y: ProcessRef): boolean => x.pid === y.pid && x.node === y.node;
        const twice = refs.find((r, i) => refs.findIndex((o) => same(o, r)) !== i);
        if (twice) throw new UsageError(`${twice.pid} is named twice (${args.filter((_, i) => same(refs[i], twice)).join(' and ')})`);
        const seq = await messageSequence(reader, refs, { from, to, limit });
        return out(seq, () => sequenceText(seq, style));
      }
      case 'anomalies': {
        const anomalies = await listAnomalies(reader, { since, node, limit });
        return out(anomalies, () => anomaliesText(anomalies, style));
      }
      default: {
        const ref = await resolveProcess(reader, args[0], { node, at });
        const test = await generateExUnitTest(reader, ref.pid, { node: ref.node });
        if (options.out === undefined) return json ? `${JSON.stringify(test, null, 2)}\n` : test.source;
        const dir = resolve(options.out);
        mkdirSync(dir, { recursive: true });
        const path = join(dir, test.fileName);
        writeFileSync(path, test.source);
        return json ? `${JSON.stringify({ ...test, path }, null, 2)}\n` : `wrote ${path} (${test.steps} steps${test.crash ? ', ending in the crash' : ''}): mix test ${path}\n`;
      }
    }
  } finally {
    progress(null);
    reader.close();
  }
}

export class UsageError extends Error {}
