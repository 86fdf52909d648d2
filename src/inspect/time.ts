/** Times as the inspection layer takes them (RFC 3339, or relative like `-5m`) and gives them back. */
import { tryParseDuration } from '../config/units.js';
import type { When } from './types.js';

const NS_PER_MS = 1_000_000n;

/** RFC 3339 (`2026-12-01T15:04:05.123456789Z`) with all nine fraction digits. */
export function isoNano(unixNano: bigint): string {
  const ms = unixNano / NS_PER_MS - (unixNano < 0n && unixNano % NS_PER_MS !== 0n ? 1n : 0n);
  const base = new Date(Number(ms)).toISOString(); // …T15:04:05.123Z
  const fraction = ((unixNano % 1_000_000_000n) + 1_000_000_000n) % 1_000_000_000n;
  return `${base.slice(0, 19)}.${fraction.toString().padStart(9, '0')}Z`;
}

export function when(unixNano: bigint): When {
  return { unixNano: unixNano.toString(), iso: isoNano(unixNano) };
}

/**
 * `-5m`, `-2h`, `-1d` (before `now`), `now`, or an RFC 3339 time (fractions to
 * the nanosecond); Unix nanoseconds, or null when it is neither.
 */
export function parseTime(text: string, now: bigint = BigInt(Date.now()) * NS_PER_MS): bigint | null {
  if (text === 'now') return now;
  if (text.startsWith('-')) {
    const ms = tryParseDuration(text.slice(1));
    return ms === null ? null : now - BigInt(Math.round(ms * 1e6));
  }
  const m = /^((\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2}))(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/i.exec(text);
  if (!m) return null;
  // Date.parse rolls 2026-02-30 over to March: every field must be in range for its month.
  const [year, month, day, hour, minute, second] = m.slice(2, 8).map(Number);
  const days = new Date(Date.UTC(year, month, 0)).getUTCDate();
  if (month < 1 || month > 12 || day < 1 || day > days || hour > 23 || minute > 59 || second > 59) return null;
  const seconds = Date.parse(`${m[1].replace(' ', 'T')}${m[9].toUpperCase()}`);
  if (Number.isNaN(seconds)) return null;
  return BigInt(seconds) * NS_PER_MS + BigInt((m[8] ?? '').padEnd(9, '0') || '0');
}
