/** Durations (`200ms`, `5s`, `1m30s`, `7d`: days are 24 h, for retention) and sizes (`64MiB`, `512KB`) parse here and nowhere else. */

const durationUnits: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const durationPart = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h|d)/y;

/** Milliseconds in a duration string; null when it is not one. `0` alone means zero. */
export function tryParseDuration(text: string): number | null {
  if (text === '0') return 0;
  let total = 0;
  let at = 0;
  durationPart.lastIndex = 0;
  while (at < text.length) {
    durationPart.lastIndex = at;
    const m = durationPart.exec(text);
    if (!m) return null;
    total += Number(m[1]) * durationUnits[m[2]];
    at = durationPart.lastIndex;
  }
  return at > 0 ? total : null;
}

/** Milliseconds in a duration string; throws on anything else (config validation has already checked it). */
export function parseDuration(text: string): number {
  const ms = tryParseDuration(text);
  if (ms === null) throw new RangeError(`"${text}" is not a duration like 200ms, 5s or 1m30s`);
  return ms;
}

const sizeUnits: Record<string, number> = {
  '': 1, b: 1,
  kb: 1e3, mb: 1e6, gb: 1e9, tb: 1e12,
  kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3, tib: 1024 ** 4,
};
const sizePattern = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i;

/** Bytes in a size (`64MiB`, `10MB`, `4096`); null when it is not one. */
export function tryParseSize(value: string | number): number | null {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? Math.floor(value) : null;
  const m = sizePattern.exec(value.trim());
  if (!m) return null;
  const unit = sizeUnits[m[2].toLowerCase()];
  return unit === undefined ? null : Math.floor(Number(m[1]) * unit);
}

export function parseSize(value: string | number): number {
  const bytes = tryParseSize(value);
  if (bytes === null) throw new RangeError(`"${String(value)}" is not a size like 64MiB or 512KB`);
  return bytes;
}

/** `host:port` → parts; IPv6 hosts in brackets. */
export function parseEndpoint(endpoint: string): { host: string; port: number } {
  const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]*):(\d{1,5})$/.exec(endpoint);
  if (!m) throw new RangeError(`"${endpoint}" is not host:port`);
  const host = m[1].startsWith('[') ? m[1].slice(1, -1) : m[1] || '127.0.0.1';
  const port = Number(m[2]);
  if (port > 65535) throw new RangeError(`"${endpoint}": port must be 0-65535`);
  return { host, port };
}
/** True for `host:port` with a port in 0-65535. */
export function isEndpoint(endpoint: string): boolean {
  try {
    parseEndpoint(endpoint);
    return true;
  } catch {
    return false;
  }
}
