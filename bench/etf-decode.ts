/**
 * etf-decode: frames/s decoding (and mapping) a recorded capture of real trace
 * frames, side by side with Erlang's binary_to_term (C) on the same frames.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeTerm, EtfError } from '../src/beam/etf.js';
import { heavyTerms } from '../test/beam/etf/hostile_terms.js';
import { FrameReader, OP_TERM } from '../src/receivers/beam_trace_port/framing.js';
import { TraceMapper } from '../src/receivers/beam_trace_port/mapping.js';
import { eventSchemas } from '../src/model/schemas.js';
import type { ScopeEvent } from '../src/model/types.js';
import { compileBeam, recordCapture } from './capture.js';
import { ratePerSecond, series, table, writeResult, type Series } from './lib.js';

export async function run(): Promise<string> {
  const file = await recordCapture();
  const stream = readFileSync(file);
  const frames: Array<[number, number]> = [];
  const reader = new FrameReader(1 << 24);
  reader.feed(stream);
  for (let op = reader.next(); op >= 0; op = reader.next()) if (op === OP_TERM) frames.push([reader.start, reader.end]);
  const runs = 7;

  const code = compileBeam('decode_anchor', 'hostile_anchor');
  const anchorOut = execFileSync('erl', ['-noshell', '-pa', code, '-run', 'decode_anchor', 'main', file, String(runs)], { encoding: 'utf8' });
  const anchorRuns = [...anchorOut.matchAll(/run (\d+) (\d+)/g)].map((m) => Number(m[1]) / (Number(m[2]) / 1e6));
  const anchor = series('erlang binary_to_term (anchor)', 'frames/s', anchorRuns);

  const decodeOnly = series('decodeTerm', 'frames/s', ratePerSecond(frames.length, () => {
    for (const [s, e] of frames) decodeTerm(stream, undefined, s, e);
  }, runs));
  // As the receiver does: events are handed on in batches of max_batch_items (8192) and
  // the receiver keeps none of them; what the rest of the pipeline costs is measured elsewhere.
  const mapper = new TraceMapper({ component: 'bench', maxMessageBytes: 1024 });
  const BATCH = 8192;
  let handedOn = 0;
  const decodeMap = series('decodeTerm + map to events', 'frames/s', ratePerSecond(frames.length, () => {
    let out: ScopeEvent[] = [];
    for (const [s, e] of frames) {
      mapper.map(decodeTerm(stream, undefined, s, e), out);
      if (out.length >= BATCH) {
        handedOn += out.length;
        out = [];
      }
    }
  }, runs));
  const withSchema = series('decode + map + per-event schema check (skipped for this receiver)', 'frames/s', ratePerSecond(frames.length, () => {
    let out: ScopeEvent[] = [];
    for (const [s, e] of frames) {
      mapper.map(decodeTerm(stream, undefined, s, e), out);
      if (out.length >= BATCH) {
        for (const ev of out) eventSchemas.validate(ev);
        handedOn += out.length;
        out = [];
      }
    }
  }, runs));
  if (handedOn === 0) throw new Error('nothing was mapped');

  const rows: Series[] = [decodeOnly, decodeMap, withSchema];
  const text = table(rows, anchor);
  const hostile = hostileTable(code);
  writeResult('etf-decode', {
    input: { file: 'bench/data/trace-capture.bin', frames: frames.length, bytes: stream.length, mean_frame_bytes: Math.round(stream.length / frames.length) },
    runs,
    anchor,
    series: rows,
    hostile,
  });
  const hostileText = ['| input | bytes | decodeTerm | outcome | binary_to_term (anchor) | outcome |', '|---|---|---|---|---|---|',
    ...hostile.map((h) => `| ${h.label} | ${h.bytes} | ${h.ms.toFixed(1)} ms | ${h.outcome} | ${h.anchor_ms.toFixed(1)} ms | ${h.anchor_outcome} |`)].join('\n');
  return `etf-decode: ${frames.length} real trace frames (${Math.round(stream.length / frames.length)} bytes each on average)\n\n${text}\n\n`
    + `Hostile inputs (median of ${HOSTILE_RUNS} runs each, after a warm-up):\n\n${hostileText}`;
}

const HOSTILE_RUNS = 5;

interface HostileResult {
  label: string;
  bytes: number;
  ms: number;
  outcome: string;
  anchor_ms: number;
  anchor_outcome: string;
}

/** How long each hand-built hostile input takes to decode or be refused, beside Erlang on the same bytes. */
function hostileTable(code: string): HostileResult[] {
  const terms = heavyTerms();
  const file = join(tmpdir(), `scope-bench-hostile-${process.pid}.bin`);
  writeFileSync(file, Buffer.concat(terms.flatMap((t) => {
    const head = Buffer.alloc(5);
    head.writeUInt32BE(t.bytes.length, 1);
    return [head, t.bytes];
  })));
  const anchorOut = execFileSync('erl', ['-noshell', '-pa', code, '-run', 'hostile_anchor', 'main', file, String(HOSTILE_RUNS)], { encoding: 'utf8', maxBuffer: 1 << 20 });
  const anchors = new Map([...anchorOut.matchAll(/term (\d+) (\d+) (\w+)/g)].map((m) => [Number(m[1]), { us: Number(m[2]), outcome: m[3] }]));
  return terms.map((t, i) => {
    const once = (): string => {
      try {
        decodeTerm(t.bytes, t.limits);
        return 'value';
      } catch (e) {
        if (e instanceof EtfError) return `EtfError (${e.reason})`;
        throw e;
      }
    };
    const outcome = once();
    const times: number[] = [];
    for (let r = 0; r < HOSTILE_RUNS; r++) {
      const t0 = process.hrtime.bigint();
      once();
      times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    const anchor = anchors.get(i);
    if (!anchor) throw new Error(`the Erlang anchor printed nothing for ${t.label}`);
    return { label: t.label, bytes: t.bytes.length, ms: series(t.label, 'ms', times).median, outcome, anchor_ms: anchor.us / 1000, anchor_outcome: anchor.outcome };
  });
}
