/**
 * Row groups encoded ahead on the writer's thread, one piece (a few columns,
 * encode.ts) per turn of its event loop, so that encoding a 20 000-row group
 * (40–150 ms here) never holds the thread: its answers to the pipeline, its
 * age timer and its other partitions go on between pieces.
 *
 * The archive still writes every group itself, synchronously (archive.ts):
 * a prepared group is used only if it is exactly the group to be written
 * next (the same first chunk, start and rows); otherwise, when something
 * else wrote first (a file completed by age, a partition given up), it is
 * thrown away and the group is encoded at once.
 */
import type { ColumnChunk } from './chunks.js';
import type { GroupEncoder, GroupSource } from './encode.js';

export interface PreparedGroup {
  first: ColumnChunk;
  start: number;
  rows: number;
  pieces: Uint8Array[];
}

/** Whether `prepared` is the group of `rows` rows starting at `start` of `first`. */
export function preparedFor(prepared: PreparedGroup | undefined, first: ColumnChunk | undefined, start: number, rows: number): prepared is PreparedGroup {
  return prepared !== undefined && prepared.first === first && prepared.start === start && prepared.rows === rows;
}

/** A group to encode ahead; `done` takes it when every piece is encoded, `failed` when one could not be. */
export interface GroupJob {
  encoder: GroupEncoder;
  source: GroupSource;
  done(prepared: PreparedGroup): void;
  failed(): void;
}

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export class GroupPreparer {
  private running = false;
  private stopped = false;

  /** `next`: the next group to encode ahead, or undefined when none is full. */
  constructor(private readonly next: () => GroupJob | undefined) {}

  /** Encodes every group `next` gives, a piece per turn, until it gives none. */
  kick(): void {
    if (this.running || this.stopped) return;
    this.running = true;
    void this.run().finally(() => {
      this.running = false;
    });
  }

  stop(): void {
    this.stopped = true;
  }

  private async run(): Promise<void> {
    for (let job = this.next(); job !== undefined && !this.stopped; job = this.next()) {
      const { encoder, source } = job;
      // The chunks as they are now: the group's rows are theirs whatever is taken meanwhile.
      const frozen: GroupSource = { chunks: source.chunks.slice(), start: source.start, rows: source.rows };
      const pieces: Uint8Array[] = [];
      let ok = true;
      try {
        for (const piece of encoder.pieces(frozen)) {
          await turn();
          if (this.stopped) return;
          pieces.push(encoder.encodePiece(frozen, piece));
        }
      } catch {
        ok = false;
      }
      if (ok) job.done({ first: frozen.chunks[0], start: frozen.start, rows: frozen.rows, pieces });
      else job.failed();
    }
  }
}
