/**
 * Consistent probability sampling as the OpenTelemetry Collector's
 * probabilistic_sampler does it, so that the same trace id and percentage give
 * the same decision here and there:
 *
 * - `proportional` (its default): randomness R = the trace id's low 56 bits
 *   (or `rv` from the `ot` tracestate entry); rejection threshold
 *   T = 2^56 − round(p · 2^56), rounded to `sampling_precision` hex digits
 *   (more near 0 and 1); sampled when R ≥ T; `ot=th:<T>` is written to the
 *   span's tracestate (trailing zeros dropped, `th:0` for 100 %).
 * - `hash_seed` (its legacy mode, chosen there when hash_seed ≠ 0): FNV-1a over
 *   the little-endian seed and the 16 trace id bytes; sampled when the low 14
 *   bits are below ⌊percentage · 163.84⌋ (float32 arithmetic).
 */

const MAX = 1n << 56n;
const HEX_DIGITS = 14;

export type SamplerMode = 'proportional' | 'hash_seed';

/** Go's math.Frexp exponent: x = f · 2^e with f in [0.5, 1). */
function frexpExponent(x: number): number {
  if (x === 0) return 0;
  return Math.floor(Math.log2(Math.abs(x))) + 1;
}

/** Go's integer division (truncates toward zero). */
const goDiv = (a: number, b: number): number => Math.trunc(a / b);

/** The rejection threshold for probability `p` (0 < p ≤ 1) with `precision` hex digits. */
export function thresholdFor(p: number, precision: number): bigint {
  if (p >= 1) return 0n;
  const prec = Math.min(HEX_DIGITS, Math.max(precision + goDiv(frexpExponent(p), -4), precision + goDiv(frexpExponent(1 - p), -4)));
  const scaled = BigInt(Math.round(p * 2 ** 56));
  let threshold = MAX - scaled;
  const shift = BigInt(4 * (HEX_DIGITS - prec));
  if (shift > 0n) {
    threshold += 1n << (shift - 1n);
    threshold >>= shift;
    threshold <<= shift;
  }
  return threshold;
}

/** `th` as written to tracestate: 14 hex digits, trailing zeros removed (`0` for always). */
export function encodeThreshold(threshold: bigint): string {
  if (threshold === 0n) return '0';
  return threshold.toString(16).padStart(HEX_DIGITS, '0').replace(/0+$/, '');
}

/** R: the `rv` of an `ot` tracestate entry, else the low 56 bits of the trace id. */
export function randomness(traceId: string, traceState?: string): bigint {
  const rv = traceState ? /(?:^|[,;=]|\s)rv:([0-9a-f]{14})(?:$|[;,])/.exec(otEntry(traceState) ?? '') : null;
  if (rv) return BigInt(`0x${rv[1]}`);
  return BigInt(`0x${traceId.slice(-14) || '0'}`);
}

function otEntry(traceState: string): string | undefined {
  for (const member of traceState.split(',')) {
    const eq = member.indexOf('=');
    if (eq > 0 && member.slice(0, eq).trim() === 'ot') return member.slice(eq + 1).trim();
  }
  return undefined;
}

/** The tracestate with `th` set in its `ot` entry (other entries and `ot` fields kept). */
export function withThreshold(traceState: string | undefined, th: string): string {
  const members = (traceState ?? '').split(',').map((m) => m.trim()).filter(Boolean);
  const i = members.findIndex((m) => m.startsWith('ot='));
  if (i < 0) return [`ot=th:${th}`, ...members].join(',');
  const fields = members[i].slice(3).split(';').filter((f) => f && !f.startsWith('th:'));
  members.splice(i, 1);
  return [`ot=${[`th:${th}`, ...fields].join(';')}`, ...members].join(',');
}

/** FNV-1a 32 over the seed (little-endian) and the trace id's 16 bytes. */
export function fnv1a(traceId: string, seed: number): number {
  let h = 0x811c9dc5;
  const step = (byte: number): void => {
    h ^= byte;
    h = Math.imul(h, 0x01000193) >>> 0;
  };
  for (let i = 0; i < 4; i++) step((seed >>> (8 * i)) & 0xff);
  for (let i = 0; i + 1 < traceId.length; i += 2) step(parseInt(traceId.slice(i, i + 2), 16));
  return h >>> 0;
}

export interface ProbabilitySampler {
  /** Whether to keep the trace; `threshold` is what to write to tracestate when kept (proportional only). */
  decide(traceId: string, traceState?: string): boolean;
  readonly th?: string;
}

export function probabilitySampler(percentage: number, mode: SamplerMode, precision: number, seed: number): ProbabilitySampler {
  const pct = Math.min(100, Math.max(0, percentage));
  if (pct === 0) return { decide: () => false };
  if (mode === 'hash_seed') {
    // uint32(pct * percentageScaleFactor) in float32, as the Collector computes it.
    const scaled = Math.trunc(Math.fround(Math.fround(pct) * Math.fround(16384 / 100)));
    if (scaled === 0) return { decide: () => false };
    return { decide: (traceId) => (fnv1a(traceId, seed) & 0x3fff) < scaled };
  }
  // The Collector reads the percentage as a float32.
  const ratio = Math.max(Math.fround(pct) / 100, 2 ** -56);
  const threshold = thresholdFor(ratio, precision);
  return { decide: (traceId, traceState) => randomness(traceId, traceState) >= threshold, th: encodeThreshold(threshold) };
}
