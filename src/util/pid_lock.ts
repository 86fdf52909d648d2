/**
 * One owner per directory: a lock file holding the owner's pid, created
 * exclusively; a lock whose process is gone is stale and taken over.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';

export interface PidLock {
  release(): void;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** `held(owner)`: the error when another live process holds the lock. */
export function pidLock(path: string, held: (owner: number) => Error): PidLock {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(path, String(process.pid), { flag: 'wx' });
      let released = false;
      return {
        release: () => {
          if (released) return;
          released = true;
          rmSync(path, { force: true });
        },
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const owner = Number(readFileSync(path, 'utf8'));
      if (Number.isInteger(owner) && owner > 0 && alive(owner)) {
        throw held(owner);
      }
      rmSync(path, { force: true }); // stale: its owner is gone
    }
  }
  throw held(Number.NaN);
}
