/**
 * Garbage at the trace-port receiver: thousands of mutated and random frames.
 * The frames start as a real capture from erl; the server that sends the
 * mutations is ours because a real node cannot be made to send garbage.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { decodeTerm, EtfError } from '../../src/beam/etf.js';
import { FrameError, FrameReader, OP_TERM } from '../../src/receivers/beam_trace_port/framing.js';
import { TraceMapper } from '../../src/receivers/beam_trace_port/mapping.js';
import { createPipeline, eventSchemas, registerComponent, silentLogger, type ScopeEvent } from '../../src/index.js';
import { Collector, until } from '../helpers.js';
import { captureWorkloadStream } from './capture.js';

/** A small seeded PRNG (mulberry32) so a failure can be replayed. */
function prng(seed: number): () => number {
  let a = seed;
  return () => {
    a |= 0;
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

let stream: Buffer;
let payloads: Buffer[] = [];

function frame(payload: Buffer): Buffer {
  const header = Buffer.alloc(5);
  header.writeUInt32BE(payload.length, 1);
  return Buffer.concat([header, payload]);
}

function mutate(p: Buffer, rnd: () => number): Buffer {
  const out = Buffer.from(p);
  switch (Math.floor(rnd() * 4)) {
    case 0: // flip a few bytes
      for (let i = 0; i < 1 + rnd() * 4; i++) out[Math.floor(rnd() * out.length)] = Math.floor(rnd() * 256);
      return out;
    case 1: // truncate
      return out.subarray(0, Math.floor(rnd() * out.length));
    case 2: { // splice two payloads
      const other = payloads[Math.floor(rnd() * payloads.length)];
      return Buffer.concat([out.subarray(0, Math.floor(rnd() * out.length)), other.subarray(Math.floor(rnd() * other.length))]);
    }
    default: // random bytes after the version byte
      return Buffer.concat([Buffer.from([131]), Buffer.from(Array.from({ length: Math.floor(rnd() * 64) }, () => Math.floor(rnd() * 256)))]);
  }
}

before(async () => {
  stream = await captureWorkloadStream();
  const reader = new FrameReader(1 << 20);
  reader.feed(stream);
  for (let op = reader.next(); op >= 0; op = reader.next()) {
    if (op === OP_TERM) payloads.push(Buffer.from(reader.payload.subarray(reader.start, reader.end)));
  }
  assert.ok(payloads.length > 30, `captured ${payloads.length} frames`);
});

describe('trace port under garbage', () => {
  it('decodes and maps mutated frames in process: only EtfError, never another exception', () => {
    const rnd = prng(42);
    const mapper = new TraceMapper({ component: 'fuzz', maxMessageBytes: 256 });
    let decoded = 0;
    let rejected = 0;
    for (let i = 0; i < 5000; i++) {
      const p = mutate(payloads[Math.floor(rnd() * payloads.length)], rnd);
      try {
        const term = decodeTerm(p);
        decoded++;
        mapper.map(term, [] as ScopeEvent[]);
      } catch (error) {
        assert.ok(error instanceof EtfError, `case ${i}: ${String(error)} for ${p.toString('hex')}`);
        rejected++;
      }
    }
    assert.ok(decoded > 100 && rejected > 1000, `decoded ${decoded}, rejected ${rejected}`);
  });

  it('reframes arbitrary chunkings of the real stream identically, and rejects garbage framing with FrameError only', () => {
    const rnd = prng(7);
    for (let round = 0; round < 200; round++) {
      const reader = new FrameReader(1 << 20);
      const seen: string[] = [];
      for (let at = 0; at < stream.length;) {
        const step = 1 + Math.floor(rnd() * 300);
        reader.feed(stream.subarray(at, at + step));
        at += step;
        for (let op = reader.next(); op >= 0; op = reader.next()) {
          if (op === OP_TERM) seen.push(reader.payload.subarray(reader.start, reader.end).toString('hex'));
        }
      }
      assert.deepEqual(seen, payloads.map((p) => p.toString('hex')));
    }
    for (let i = 0; i < 2000; i++) {
      const reader = new FrameReader(4096);
      reader.feed(Buffer.from(Array.from({ length: 1 + Math.floor(rnd() * 40) }, () => Math.floor(rnd() * 256))));
      try {
        for (let op = reader.next(); op >= 0; op = reader.next()) { /* drain */ }
      } catch (error) {
        assert.ok(error instanceof FrameError, String(error));
      }
    }
  });

  it('keeps running through thousands of garbage frames over TCP and decodes valid frames after reconnecting', async () => {
    const sink = new Collector();
    registerComponent(sink.factory('fuzz_sink'));
    const rnd = prng(1234);
    const connections: Socket[] = [];
    let connectionCount = 0;
    // What each garbage frame must come to, worked out in process with the same decoder, mapper and schemas.
    const garbage = Array.from({ length: 3000 }, () => mutate(payloads[Math.floor(rnd() * payloads.length)], rnd));
    const expected = { event: 0, malformed: 0, unknown_message: 0, invalid_event: 0, clock: 0 };
    const mapper = new TraceMapper({ component: 'beam_trace_port', maxMessageBytes: 1024 });
    for (const p of garbage) {
      let term;
      try {
        term = decodeTerm(p);
      } catch {
        expected.malformed++;
        continue;
      }
      const out: ScopeEvent[] = [];
      const outcome = mapper.map(term, out);
      if (outcome === 'unknown') expected.unknown_message++;
      else if (outcome === 'clock') expected.clock++;
      else if (eventSchemas.validate(out[0])) expected.invalid_event++;
      else expected.event++;
    }
    const server = createServer((socket) => {
      connectionCount++;
      connections.push(socket);
      socket.on('error', () => undefined);
      if (connectionCount === 1) {
        // Mutated payloads in well-formed frames are skipped one by one and the connection stays;
        // then a frame with an unknown op says this is no trace port: the receiver must hang up and reconnect.
        socket.write(Buffer.concat([...garbage.map(frame), Buffer.from([7, 0, 0, 0, 1, 0])]));
      } else {
        socket.write(stream); // the real, valid capture
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    const pipeline = createPipeline({
      receivers: { beam_trace_port: { endpoint: `127.0.0.1:${port}`, reconnect: { initial_interval: '10ms', max_interval: '50ms' } } },
      exporters: { fuzz_sink: {} },
      service: { pipelines: { p: { receivers: ['beam_trace_port'], exporters: ['fuzz_sink'] } }, telemetry: { metrics: { level: 'none' } } },
    }, { logger: silentLogger });
    await pipeline.start();
    const validEvents = payloads.length - 1; // every frame but the one scope_clock maps to an event
    try {
      await until(async () => (await pipeline.metrics.sum('scope_beam_trace_port_frames')) >= garbage.length + payloads.length, 20_000, 'all frames, before and after the reconnect');
      await until(() => sink.events.length >= expected.event + validEvents, 5000, 'all events');
      assert.ok(connectionCount >= 2);
      assert.equal(await pipeline.metrics.sum('scope_receiver_refused_items', { reason: 'bad_frame' }), 1);
      // The receiver's events skip the pipeline's schema check (valid by construction): hold it to that, even for garbage.
      assert.equal(expected.invalid_event, 0, 'the mapper builds schema-valid events from any decodable input');
      for (const reason of ['malformed', 'unknown_message', 'invalid_event'] as const) {
        assert.equal(await pipeline.metrics.sum('scope_receiver_refused_items', { reason }), expected[reason], reason);
      }
      assert.ok(expected.malformed > 1000, `malformed ${expected.malformed}`);
      assert.equal(sink.events.length, expected.event + validEvents);
      // The valid capture after the reconnect arrived whole and in order.
      const lastRun = sink.events.slice(-validEvents);
      assert.equal(lastRun[0].type, 'message.receive');
      assert.equal(lastRun.filter((e) => e.type === 'function.return').length, 4);
    } finally {
      await pipeline.shutdown();
      for (const s of connections) s.destroy();
      await new Promise((r) => server.close(r));
    }
  });
});
