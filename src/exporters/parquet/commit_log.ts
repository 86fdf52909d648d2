/**
 * What the archive holds of a disk sending queue's entries, so a replay after
 * a crash writes each row once.
 *
 * `<root>/_queue/commits.jsonl`: a first line naming the queue, then
 * `{"through":S}` lines (every entry ≤ S is in renamed files) and one line
 * per file, written and synced just before the file is renamed into place:
 * its table, partition and the queue seqs of its rows. After a crash, a line
 * whose file exists says those rows are archived: the replayed entries skip
 * them in that partition (rows go to partitions deterministically). A line
 * whose file is missing was never renamed; its rows are written again.
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeFileSync, writeSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { Logger } from '../../util/logger.js';

export const COMMITS_DIR = '_queue';

/** Seqs as sorted, disjoint inclusive ranges, flat: [lo0, hi0, lo1, hi1, …]. */
export type SeqRanges = number[];

export function addSeq(ranges: SeqRanges, seq: number): void {
  const n = ranges.length;
  if (n === 0 || seq > ranges[n - 1] + 1) {
    ranges.push(seq, seq);
    return;
  }
  if (seq === ranges[n - 1] + 1) {
    ranges[n - 1] = seq;
    return;
  }
  if (hasSeq(ranges, seq)) return;
  // Out of order (several consumers): a one-seq range in its place; the ranges stay sorted and disjoint.
  let i = 0;
  while (i < n && ranges[i + 1] < seq) i += 2;
  ranges.splice(i, 0, seq, seq);
}

export function hasSeq(ranges: SeqRanges, seq: number): boolean {
  let lo = 0;
  let hi = ranges.length / 2 - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (seq < ranges[2 * mid]) hi = mid - 1;
    else if (seq > ranges[2 * mid + 1]) lo = mid + 1;
    else return true;
  }
  return false;
}

interface FileLine {
  table: string;
  dir: string;
  file: string;
  seqs: SeqRanges;
}

const COMPACT_AFTER_LINES = 2_000;

export class CommitLog {
  private readonly path: string;
  private fd?: number;
  private through = 0;
  private lines = 0;
  /** Files recorded whose rows may still be replayed (some seq above `through`). */
  private files: FileLine[] = [];
  /** Replay: per `table/dir`, the seqs already in renamed files. */
  private readonly archived = new Map<string, SeqRanges[]>();

  constructor(private readonly root: string, private readonly logger: Logger) {
    this.path = join(root, COMMITS_DIR, 'commits.jsonl');
  }

  /** Reads what the last run recorded for `queue`; returns the seq through which everything is archived. */
  open(queue: string): number {
    mkdirSync(join(this.root, COMMITS_DIR), { recursive: true });
    let recorded: { queue?: string; through: number; files: FileLine[] } = { through: 0, files: [] };
    if (existsSync(this.path)) recorded = this.read();
    if (recorded.queue !== undefined && recorded.queue !== queue) {
      this.logger.warn('parquet: the archive\'s record of a disk queue belongs to another queue (its directory was replaced); starting a new record', {
        path: this.path, recorded_queue: recorded.queue, queue,
      });
      recorded = { through: 0, files: [] };
    }
    this.through = recorded.through;
    for (const line of recorded.files) {
      if (line.seqs[line.seqs.length - 1] <= this.through) continue;
      if (!existsSync(join(this.root, line.file))) continue; // never renamed: its rows come again
      this.files.push(line);
      const key = `${line.table}/${line.dir}`;
      this.archived.set(key, [...(this.archived.get(key) ?? []), line.seqs]);
    }
    this.rewrite(queue);
    return this.through;
  }

  /** Whether a replayed row of entry `seq` is already in a renamed file of its partition. */
  archivedAlready(table: string, dir: string, seq: number): boolean {
    if (this.archived.size === 0) return false;
    const sets = this.archived.get(`${table}/${dir}`);
    return sets !== undefined && sets.some((r) => hasSeq(r, seq));
  }

  /** Just before a file is renamed into place: its rows' seqs, synced. */
  recordFile(table: string, dir: string, finalPath: string, seqs: SeqRanges): void {
    const line: FileLine = { table, dir, file: relative(this.root, finalPath), seqs };
    this.files.push(line);
    this.append(JSON.stringify(line), true);
  }

  /** Every entry through `seq` is in renamed files. */
  recordThrough(seq: number): void {
    if (seq <= this.through) return;
    this.through = seq;
    this.files = this.files.filter((f) => f.seqs[f.seqs.length - 1] > seq);
    if (this.archived.size > 0 && [...this.archived.values()].every((sets) => sets.every((r) => r[r.length - 1] <= seq))) this.archived.clear();
    this.append(JSON.stringify({ through: seq }), false);
    if (this.lines > COMPACT_AFTER_LINES) this.rewrite(this.queue ?? '');
  }

  private queue?: string;

  close(): void {
    if (this.fd === undefined) return;
    try {
      fsyncSync(this.fd);
    } finally {
      closeSync(this.fd);
      this.fd = undefined;
    }
  }

  private append(text: string, sync: boolean): void {
    if (this.fd === undefined) this.fd = openSync(this.path, 'a');
    writeSync(this.fd, `${text}\n`);
    if (sync) fsyncSync(this.fd);
    this.lines++;
  }

  private read(): { queue?: string; through: number; files: FileLine[] } {
    const out: { queue?: string; through: number; files: FileLine[] } = { through: 0, files: [] };
    for (const text of readFileSync(this.path, 'utf8').split('\n')) {
      if (text.length === 0) continue;
      let line: Record<string, unknown>;
      try {
        line = JSON.parse(text) as Record<string, unknown>;
      } catch {
        continue; // a torn last line: it was never synced, so its file was never renamed
      }
      if (typeof line.queue === 'string') out.queue = line.queue;
      else if (typeof line.through === 'number') out.through = Math.max(out.through, line.through);
      else if (typeof line.file === 'string' && Array.isArray(line.seqs)) out.files.push(line as unknown as FileLine);
    }
    return out;
  }

  /** The journal as one file again: the queue, the through line and the files still needed. */
  private rewrite(queue: string): void {
    this.queue = queue;
    if (this.fd !== undefined) {
      closeSync(this.fd);
      this.fd = undefined;
    }
    const text = [JSON.stringify({ queue }), JSON.stringify({ through: this.through }), ...this.files.map((f) => JSON.stringify(f))].join('\n');
    const temp = `${this.path}.new`;
    writeFileSync(temp, `${text}\n`);
    const fd = openSync(temp, 'r');
    fsyncSync(fd);
    closeSync(fd);
    renameSync(temp, this.path);
    this.lines = 2 + this.files.length;
  }
}
