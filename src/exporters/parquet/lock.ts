/**
 * One writer per archive: a second exporter on the same path would remove the
 * first one's unfinished files as leftovers of a crash. The lock is a file
 * holding the owner's pid; a lock whose process is gone is stale and taken over.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../../archive/layout.js';
import { ScopeError } from '../../util/errors.js';

export interface ArchiveLock {
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

export function lockArchive(root: string): ArchiveLock {
  const path = join(tempDir(root), 'writer.lock');
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
        throw new ScopeError('ARCHIVE_LOCKED', `the archive ${root} is being written by process ${owner} (one parquet exporter per path)`);
      }
      rmSync(path, { force: true }); // stale: its writer is gone
    }
  }
  throw new ScopeError('ARCHIVE_LOCKED', `cannot lock the archive ${root}`);
}
