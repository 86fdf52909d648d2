/** Retention: whole hour partitions older than a table's limit are deleted. */
import { readdirSync, rmSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { hourPartitionEndMs, tableDir } from '../../archive/layout.js';
import type { TableName } from '../../archive/tables.js';

function dirs(path: string): string[] {
  try {
    return readdirSync(path, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name);
  } catch {
    return [];
  }
}

/**
 * Deletes `date=…/hour=…` partitions of a table whose whole hour ended more
 * than `maxAgeMs` before `nowMs` (so nothing younger than the limit goes), and
 * date directories left empty. Returns the partitions deleted.
 */
export function expirePartitions(root: string, table: TableName, maxAgeMs: number, nowMs: number): string[] {
  const deleted: string[] = [];
  const base = tableDir(root, table);
  for (const date of dirs(base)) {
    const hours = dirs(join(base, date));
    let kept = hours.length;
    for (const hour of hours) {
      const end = hourPartitionEndMs(date, hour);
      if (end === undefined || end + maxAgeMs > nowMs) continue;
      rmSync(join(base, date, hour), { recursive: true, force: true });
      deleted.push(join(`table=${table}`, date, hour));
      kept--;
    }
    if (kept === 0 && hours.length > 0) {
      try {
        rmdirSync(join(base, date));
      } catch {
        // a writer just created an hour in it
      }
    }
  }
  return deleted;
}
