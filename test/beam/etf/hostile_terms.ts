/**
 * Hand-built ETF encodings for hostile-input tests and the etf-decode
 * benchmark's hostile table: byte builders, structures nested past any stack,
 * and the heavy inputs whose cost the benchmark measures (tests only assert
 * the outcome; how long each takes is a benchmark number, not a test bound).
 */
import { deflateSync } from 'node:zlib';
import type { EtfLimits } from '../../../src/beam/etf.js';

export type Part = number | number[] | Uint8Array;

export function bytes(...parts: Part[]): Uint8Array {
  const out: number[] = [];
  for (const p of parts) {
    if (typeof p === 'number') out.push(p);
    else for (const b of p) out.push(b);
  }
  return new Uint8Array(out);
}

export function u32(n: number): number[] {
  return [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255];
}

export function u16(n: number): number[] {
  return [(n >>> 8) & 255, n & 255];
}

export function concat(chunks: Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(chunks));
}

export function repeat(chunk: number[], times: number): Uint8Array {
  const c = Uint8Array.from(chunk);
  const out = new Uint8Array(c.length * times);
  for (let i = 0; i < times; i++) out.set(c, i * c.length);
  return out;
}

/** Node-name atom used inside pids, ports and refs. */
export const NODE = [119, 13, ...Buffer.from('nonode@nohost')];

export function nested(open: number[], inner: number[], close: number[], n: number): Uint8Array {
  return concat([Uint8Array.of(131), repeat(open, n), Uint8Array.from(inner), repeat(close, n)]);
}

export const DEEP = 100_000;

/** Structures nested DEEP levels, each a valid term if there were no depth limit. */
export function deepTerms(): Array<[string, Uint8Array]> {
  const funHead = (numFree: number): number[] => [
    112, ...u32(0), 0, ...new Array<number>(16).fill(0), ...u32(0), ...u32(numFree), 119, 1, 109, 97, 0, 97, 0, 88, ...NODE, ...u32(1), ...u32(0), ...u32(0),
  ];
  return [
    ['single-element tuples', nested([104, 1], [106], [], DEEP)],
    ['single-element large tuples', nested([105, ...u32(1)], [106], [], DEEP)],
    ['single-element lists', nested([108, ...u32(1)], [106], [106], DEEP)],
    ['map values', nested([116, ...u32(1), 97, 1], [106], [], DEEP)],
    ['map keys', nested([116, ...u32(1)], [106], [97, 1], DEEP)],
    ['fun free variables', nested(funHead(1), [106], [], DEEP)],
    // Positions that must hold an atom or an integer, which a decoder may read with a plain recursive call:
    ['pid node positions', nested([88], [...NODE], [...u32(1), ...u32(0), ...u32(0)], DEEP)],
    ['port node positions', nested([89], [...NODE], [...u32(1), ...u32(0)], DEEP)],
    ['old PID_EXT node positions', nested([103], [...NODE], [...u32(1), ...u32(0), 0], DEEP)],
    ['old PORT_EXT node positions', nested([102], [...NODE], [...u32(1), 0], DEEP)],
    ['V4_PORT_EXT node positions', nested([120], [...NODE], [...u32(0), ...u32(1), ...u32(0)], DEEP)],
    ['old REFERENCE_EXT node positions', nested([101], [...NODE], [...u32(1), 0], DEEP)],
    ['NEW_REFERENCE_EXT node positions', nested([114, ...u16(1)], [...NODE], [0, ...u32(1)], DEEP)],
    ['reference node positions', nested([90, ...u16(1)], [...NODE], [...u32(0), ...u32(1)], DEEP)],
    ['export module positions', nested([113], [119, 1, 109], [119, 1, 102, 97, 1], DEEP)],
    ['export arity positions', nested([113, 119, 1, 109, 119, 1, 102], [97, 1], [], DEEP)],
    ['fun module positions', nested(funHead(0).slice(0, 30), [119, 1, 109], [97, 0, 97, 0, 88, ...NODE, ...u32(1), ...u32(0), ...u32(0)], DEEP)],
    ['fun old-index positions', nested([...funHead(0).slice(0, 30), 119, 1, 109], [97, 0], [97, 0, 88, ...NODE, ...u32(1), ...u32(0), ...u32(0)], DEEP)],
    ['fun pid positions', nested([...funHead(0).slice(0, 30), 119, 1, 109, 97, 0, 97, 0], [88, ...NODE, ...u32(1), ...u32(0), ...u32(0)], [], DEEP)],
    ['old FUN_EXT pid positions', nested([117, ...u32(0)], [88, ...NODE, ...u32(1), ...u32(0), ...u32(0)], [119, 1, 109, 97, 0, 97, 0], DEEP)],
  ];
}


/** term_to_binary(T, [compressed]) layout: 131, 80, UncompressedSize:32, zlib(T's bytes without the version byte). */
export function compressed(inner: Uint8Array, declared = inner.length, level = 6): Uint8Array {
  return bytes(131, 80, u32(declared), deflateSync(inner, { level }));
}

/** A 32 MiB binary of zeros, compressed to about 32 kB, under a header declaring `declared` bytes. */
export function zipBomb(declared: number): Uint8Array {
  const inner = new Uint8Array(5 + 32 * 1024 * 1024);
  inner.set([109, ...u32(32 * 1024 * 1024)]);
  return bytes(131, 80, u32(declared), deflateSync(inner, { level: 9 }));
}

export const ZIP_BOMB_INFLATED = 5 + 32 * 1024 * 1024;

/** [1|[1|...[0,0,0,...]]]: `levels` tails as separate LIST_EXTs around a `length`-element list. */
export function tailsAroundList(levels: number, length: number): Uint8Array {
  const inner = bytes(108, u32(length), repeat([97, 0], length), 106);
  return concat([Uint8Array.of(131), repeat([108, ...u32(1), 97, 1], levels), inner]);
}

/** A list of `count` LARGE_BIG_EXT bignums of `size` bytes each (negative). */
export function manyBignums(count: number, size: number): Uint8Array {
  return bytes(131, 108, u32(count), ...Array.from({ length: count }, () => [111, ...u32(size), 1, ...new Array<number>(size).fill(0x5a)]), 106);
}

export interface HeavyTerm {
  label: string;
  bytes: Uint8Array;
  limits?: Partial<EtfLimits>;
}

/** Inputs a careless decoder spends seconds, a stack or gigabytes on; the benchmark times each one. */
export function heavyTerms(): HeavyTerm[] {
  const oneMiB = { maxUncompressedBytes: 1024 * 1024 };
  return [
    { label: `${DEEP} chained list tails`, bytes: nested([108, ...u32(1), 97, 1], [106], [], DEEP) },
    { label: `${DEEP} chained tails, improper`, bytes: nested([108, ...u32(1), 97, 1], [97, 2], [], DEEP) },
    { label: '200 tails around a 500 000-element list', bytes: tailsAroundList(200, 500_000) },
    { label: '200 bignums of 4000 bytes', bytes: manyBignums(200, 4000) },
    { label: `${DEEP} nested tuples`, bytes: nested([104, 1], [106], [], DEEP) },
    { label: `${DEEP} nested tuples, maxDepth 10M`, bytes: nested([104, 1], [106], [], DEEP), limits: { maxDepth: 10_000_000 } },
    { label: `${DEEP} nested map values, maxDepth 10M`, bytes: nested([116, ...u32(1), 97, 1], [106], [], DEEP), limits: { maxDepth: 10_000_000 } },
    { label: 'zip bomb declaring 2^32-1 bytes', bytes: zipBomb(0xffffffff) },
    { label: 'zip bomb declaring 1000 bytes, 1 MiB limit', bytes: zipBomb(1000), limits: oneMiB },
    { label: 'zip bomb declaring 1 MiB, 1 MiB limit', bytes: zipBomb(1024 * 1024), limits: oneMiB },
  ];
}
