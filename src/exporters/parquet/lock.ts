/**
 * One writer per archive: a second exporter on the same path would remove the
 * first one's unfinished files as leftovers of a crash. The lock is a file
 * holding the owner's pid; a lock whose process is gone is stale and taken over.
 */
import { join } from 'node:path';
import { tempDir } from '../../archive/layout.js';
import { ScopeError } from '../../util/errors.js';
import { pidLock, type PidLock } from '../../util/pid_lock.js';

export type ArchiveLock = PidLock;

export function lockArchive(root: string): ArchiveLock {
  return pidLock(join(tempDir(root), 'writer.lock'), (owner) => new ScopeError('ARCHIVE_LOCKED', Number.isNaN(owner)
    ? `cannot lock the archive ${root}`
    : `the archive ${root} is being written by process ${owner} (one parquet exporter per path)`));
}
