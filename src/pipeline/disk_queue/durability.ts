/**
 * Which disk appends one receiver's batch caused. The processor chain runs
 * synchronously from the receiver's consume() to the exporters' queues (a
 * pipeline with a disk queue has no processor that holds items), so the
 * appends made during that call are the batch's: consume() collects them and
 * hands the receiver one promise to answer its client after.
 */
let collecting: Array<Promise<Error | undefined>> | null = null;

/** Runs `fn`, and returns what it appended to disk queues as one promise (undefined when nothing). */
export function collectDurability(fn: () => void): Promise<Error | undefined> | undefined {
  const outer = collecting;
  const mine: Array<Promise<Error | undefined>> = [];
  collecting = mine;
  try {
    fn();
  } finally {
    collecting = outer;
  }
  if (mine.length === 0) return undefined;
  if (mine.length === 1) return mine[0];
  return Promise.all(mine).then((errors) => errors.find((e) => e !== undefined));
}

/** A disk queue says an append of the batch being consumed is under way. */
export function registerDurable(durable: Promise<Error | undefined>): void {
  collecting?.push(durable);
}
