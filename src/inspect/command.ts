/**
 * `scope-pipeline inspect VERB …`: the inspection layer's answers on the
 * terminal (table) or as JSON (exactly the layer's typed results).
 */
import { ScopeError } from '../util/errors.js';
import { ArchiveReader } from './archive_reader.js';
import { explainCrash, listCrashes } from './crashes.js';
import { crashesText, crashText, styleFor } from './text.js';
import { parseTime } from './time.js';
import { fetchWindow, type LiveSource } from './live.js';

export const INSPECT_VERBS = ['crashes', 'crash'] as const;

export interface InspectOptions {
  archive: string;
  format: 'table' | 'json';
  since?: string;
  node?: string;
  /** The daemon's inspector extension, read with the archive (a crash seconds old, before any file rolled). */
  daemon?: LiveSource;
}

/** Answers one verb; returns what to print, or throws ScopeError / a usage Error. */
export async function inspect(verb: string | undefined, args: string[], options: InspectOptions): Promise<string> {
  if (verb === undefined || !(INSPECT_VERBS as readonly string[]).includes(verb)) {
    throw new UsageError(`inspect needs a verb: ${INSPECT_VERBS.join(', ')}${verb ? ` (not "${verb}")` : ''}`);
  }
  let since: bigint | undefined;
  if (options.since !== undefined) {
    const t = parseTime(options.since);
    if (t === null) throw new UsageError(`--since "${options.since}" is not a time: use RFC 3339 (2026-12-01T15:04:05Z) or relative (-5m, -2h, -1d)`);
    since = t;
  }
  const live = options.daemon ? await fetchWindow(options.daemon, since ?? 0n) : undefined;
  const reader = await ArchiveReader.open(options.archive, live);
  try {
    const style = styleFor(process.stdout);
    if (verb === 'crashes') {
      if (args.length > 0) throw new UsageError(`inspect crashes takes no arguments (got ${args.join(' ')})`);
      const crashes = await listCrashes(reader, { since, node: options.node });
      return options.format === 'json' ? `${JSON.stringify(crashes, null, 2)}\n` : crashesText(crashes, style);
    }
    if (args.length !== 1) throw new UsageError('inspect crash needs one PID (as <0.123.0>), a crash id, or latest');
    const story = await explainCrash(reader, args[0], { since, node: options.node });
    if (!story) throw new ScopeError('QUERY_FAILED', args[0] === 'latest' ? 'no crash in the archive for these filters' : `no crash of ${args[0]} in the archive for these filters`);
    return options.format === 'json' ? `${JSON.stringify(story, null, 2)}\n` : crashText(story, style);
  } finally {
    reader.close();
  }
}

export class UsageError extends Error {}
