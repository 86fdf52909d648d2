/**
 * Decoded Erlang terms. Each keeps its Erlang meaning: an atom is a JS string,
 * a binary a Uint8Array, a proper list a JS array (charlists too), and every
 * other kind has its own small class, so atom vs binary vs charlist vs tuple
 * are always distinguishable.
 */

export class ErlTuple {
  constructor(readonly elements: Term[]) {}
}

/** Floats are wrapped: `1.0` and `1` are different terms. */
export class ErlFloat {
  constructor(readonly value: number) {}
}

export class ErlImproperList {
  constructor(
    readonly elements: Term[],
    readonly tail: Term,
  ) {}
}

/** Entries in the order the node encoded them (the order io_lib prints). */
export class ErlMap {
  constructor(readonly entries: Array<[Term, Term]>) {}

  /** The value under an atom key (the common case in trace and telemetry data). */
  get(atomKey: string): Term | undefined {
    for (const [k, v] of this.entries) if (k === atomKey) return v;
    return undefined;
  }
}

export class ErlPid {
  constructor(
    readonly node: string,
    readonly id: number,
    readonly serial: number,
    readonly creation: number,
  ) {}
}

export class ErlPort {
  constructor(
    readonly node: string,
    /** Up to 64 bits (V4_PORT_EXT): a bigint beyond 2^53. */
    readonly id: number | bigint,
    readonly creation: number,
  ) {}
}

export class ErlRef {
  constructor(
    readonly node: string,
    readonly creation: number,
    /** The id words as encoded (printed in reverse). */
    readonly ids: number[],
  ) {}
}

export class ErlFun {
  constructor(
    readonly module: string,
    readonly arity: number,
    readonly index: number,
    readonly oldIndex: number,
    readonly oldUniq: number,
    readonly pid: Term,
    readonly freeVars: Term[],
  ) {}
}

/** `fun M:F/A` */
export class ErlExport {
  constructor(
    readonly module: string,
    readonly fun: string,
    readonly arity: number,
  ) {}
}

/** A bitstring whose last byte holds only `bitsInLastByte` bits (1-8), left-aligned as encoded. */
export class ErlBitstring {
  constructor(
    readonly bytes: Uint8Array,
    readonly bitsInLastByte: number,
  ) {}
}

export type Term =
  | number
  | bigint
  | string
  | Uint8Array
  | Term[]
  | ErlTuple
  | ErlFloat
  | ErlImproperList
  | ErlMap
  | ErlPid
  | ErlPort
  | ErlRef
  | ErlFun
  | ErlExport
  | ErlBitstring;

export const isAtom = (t: Term | undefined): t is string => typeof t === 'string';
export const isTuple = (t: Term | undefined): t is ErlTuple => t instanceof ErlTuple;
export const isInteger = (t: Term | undefined): t is number | bigint => typeof t === 'number' || typeof t === 'bigint';
