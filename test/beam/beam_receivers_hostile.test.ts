/**
 * Hostile peers at both BEAM receivers, over real sockets on 127.0.0.1:
 * term bombs (compressed terms that inflate 1000-fold, frames of a million
 * tiny terms, headers that lie), idle sockets that never say hello, and
 * events with very wide metadata. The acceptance bounds of the issue are
 * asserted as such: the process RSS stays under 300 MiB and the event loop is
 * never blocked for more than 1 s (perf_hooks.monitorEventLoopDelay), and a
 * valid item sent afterwards still arrives.
 *
 * The bombs are bytes written here: they are what an attacker sends, which
 * no real node's term_to_binary produces. The trace-port peer is a plain TCP
 * server written here speaking the trace port's published wire format
 * (`<<0, Size:32, term_to_binary(T)>>`): the receiver under test is the
 * client of that framing, so a server that speaks it is the real peer as far
 * as the receiver can tell, and no node can be made to send a bomb. The
 * forwarders that must get in are real erl nodes (telemetry_client.erl,
 * wide_telemetry_client.erl).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect, createServer, type Socket } from 'node:net';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { deflateSync } from 'node:zlib';
import { encodeTerm, type SimpleTerm } from '../../src/beam/encode.js';
import { createPipeline, registerComponent, silentLogger, type Pipeline, type ScopeEvent } from '../../src/index.js';
import { CLI, Collector, outputOf, processScratchDir, promValue, ROOT, tempDir, until } from '../helpers.js';
import { compileErlang, freePort, startErl, type ErlNode } from './erl.js';
import { traceFrame } from './trace_frames.js';

const sink = new Collector();
registerComponent(sink.factory('hostile_sink'));

const MiB = 1024 * 1024;
/** The acceptance criteria. */
const MAX_RSS_MIB = 300;
const MAX_LOOP_BLOCK_MS = 1000;

let code = '';
before(() => {
  code = compileErlang('telemetry_client', 'wide_telemetry_client');
});

const nodes: ErlNode[] = [];
after(async () => {
  await Promise.all(nodes.map((n) => n.stop()));
});

function erl(module: string, args: string[]): ErlNode {
  const node = startErl(code, module, 'main', args);
  nodes.push(node);
  return node;
}

// ---------------------------------------------------------------------------
// Measuring

interface Watch {
  stop(): { startRssMiB: number; rssMiB: number; maxLoopDelayMs: number };
}

/**
 * Peak RSS (sampled every 10 ms and at the end) and the longest event-loop
 * stall, from now until stop(). Collects garbage first (the suite runs with
 * --expose-gc), so what the test itself allocated to build its bombs is not
 * counted against the receiver.
 */
function watchProcess(): Watch {
  (globalThis as { gc?: () => void }).gc?.();
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  const start = process.memoryUsage.rss();
  let peak = start;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss());
  }, 10);
  return {
    stop() {
      clearInterval(timer);
      delay.disable();
      peak = Math.max(peak, process.memoryUsage.rss());
      return { startRssMiB: start / MiB, rssMiB: peak / MiB, maxLoopDelayMs: delay.max / 1e6 };
    },
  };
}

function assertBounds(label: string, m: { rssMiB: number; maxLoopDelayMs: number }): void {
  assert.ok(m.rssMiB < MAX_RSS_MIB, `${label}: RSS peaked at ${m.rssMiB.toFixed(0)} MiB (limit ${MAX_RSS_MIB})`);
  assert.ok(m.maxLoopDelayMs < MAX_LOOP_BLOCK_MS, `${label}: the event loop was blocked for ${m.maxLoopDelayMs.toFixed(0)} ms (limit ${MAX_LOOP_BLOCK_MS})`);
}

// ---------------------------------------------------------------------------
// Bombs (External Term Format by hand: tags from erts' External Term Format spec)

const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
};

/** `<<0, Size:32, Payload>>`, the trace port's and the forwarder protocol's framing. */
function frame(payload: Buffer): Buffer {
  return Buffer.concat([Buffer.from([0]), u32(payload.length), payload]);
}

/**
 * About `total` bytes of term body (no version byte): a list of lists of
 * 500 000 empty tuples each (2 bytes a term), within every length limit.
 */
function emptyTuples(total: number): Buffer {
  const M = 500_000;
  const seg = 5 + 2 * M + 1;
  const K = Math.max(1, Math.floor((total - 6) / seg));
  const b = Buffer.alloc(5 + K * seg + 1);
  b[0] = 108;
  b.writeUInt32BE(K, 1);
  let p = 5;
  for (let k = 0; k < K; k++) {
    b[p] = 108;
    b.writeUInt32BE(M, p + 1);
    p += 5;
    b.fill(Buffer.from([104, 0]), p, p + 2 * M);
    p += 2 * M;
    b[p++] = 106;
  }
  b[p] = 106;
  return b;
}

/** A list of `n` references (NEWER_REFERENCE_EXT, 14 bytes each): the largest object per term the decoder builds. */
function references(n: number): Buffer {
  const ref = Buffer.from([90, 0, 1, 119, 1, 97, 0, 0, 0, 1, 0, 0, 0, 7]);
  const b = Buffer.alloc(5 + ref.length * n + 1);
  b[0] = 108;
  b.writeUInt32BE(n, 1);
  b.fill(ref, 5, 5 + ref.length * n);
  b[b.length - 1] = 106;
  return b;
}

/** term_to_binary(T, [compressed]) layout: 131, 80, UncompressedSize:32, zlib(T without its version byte); `declared` may lie. */
function compressed(inner: Buffer, declared = inner.length): Buffer {
  return Buffer.concat([Buffer.from([131, 80]), u32(declared), deflateSync(inner, { level: 9 })]);
}

/** A term in a frame, from the receivers' own encoder. */
function termFrame(term: SimpleTerm): Buffer {
  return frame(encodeTerm(term));
}

const atom = (a: string): SimpleTerm => ({ atom: a });

function hello(token = 's3cret'): Buffer {
  return termFrame({ tuple: [atom('scope_hello'), { map: [
    [atom('protocol'), 1], [atom('node'), atom('attacker@host')], [atom('native_units_per_second'), 1_000_000_000],
    [atom('otp_release'), '25'], [atom('app'), atom('shop')], [atom('token'), token],
  ] }] });
}

function telemetryFrame(n: number): Buffer {
  return termFrame({ tuple: [atom('telemetry'), [atom('shop'), atom('after_bombs')], { map: [[atom('duration'), 1000]] },
    { map: [[atom('n'), n]] }, BigInt(Date.now()) * 1_000_000n] });
}

// ---------------------------------------------------------------------------
// Receivers

async function telemetryReceiver(t: { after(fn: () => Promise<unknown>): void }, options: Record<string, unknown> = {}): Promise<{ port: number; pipeline: Pipeline }> {
  const port = await freePort();
  const pipeline = createPipeline({
    receivers: { beam_telemetry: { endpoint: `127.0.0.1:${port}`, auth: { token: 's3cret' }, ...options } },
    exporters: { hostile_sink: {} },
    service: { pipelines: { p: { receivers: ['beam_telemetry'], exporters: ['hostile_sink'] } }, telemetry: { metrics: { level: 'none' } } },
  }, { logger: silentLogger });
  await pipeline.start();
  t.after(() => pipeline.shutdown());
  return { port, pipeline };
}

const refused = (pipeline: Pipeline, reason: string): Promise<number> => pipeline.metrics.sum('scope_receiver_refused_items', { reason });
const eventsOf = (type: string): ScopeEvent[] => sink.events.filter((e) => e.type === type);

/** Opens a connection; resolves once connected. Remembers when the server closed it. */
async function open(port: number): Promise<Socket & { closedByPeer: Promise<void> }> {
  const socket = connect({ host: '127.0.0.1', port });
  socket.on('error', () => undefined);
  const closedByPeer = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  socket.resume(); // read (and drop, unless replies() listens) what comes, so the peer's FIN is seen
  return Object.assign(socket, { closedByPeer });
}

/** Reads frames from a socket into a list of raw payloads. */
function replies(socket: Socket): Buffer[] {
  const out: Buffer[] = [];
  let buf = Buffer.alloc(0);
  socket.on('data', (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    while (buf.length >= 5 && buf.length >= 5 + buf.readUInt32BE(1)) {
      const size = buf.readUInt32BE(1);
      out.push(buf.subarray(5, 5 + size));
      buf = buf.subarray(5 + size);
    }
  });
  return out;
}

describe('beam_telemetry under hostile peers', () => {
  it('term bombs before the hello (token set) and after it: refused before they are built; RSS < 300 MiB, loop never blocked > 1 s; valid events after them arrive', async (t) => {
    const { port, pipeline } = await telemetryReceiver(t);
    // Built before measuring: making a 65 MB buffer and deflating it is the attacker's cost, not the receiver's.
    const bomb66 = compressed(emptyTuples(66_000_000)); // 63 KB inflating to 65 MB: the review's bomb
    const bomb2 = compressed(emptyTuples(2_000_000)); // 2 KB inflating to 2 MB: fits in max_hello_bytes, inflates past it
    const liar = compressed(emptyTuples(2_000_000), 1000); // says 1000 bytes, inflates to 2 MB
    // Inflates to just under max_frame_bytes (1 MiB): decodes (524 288 terms, under maxTerms), the mapper keeps 100 of the list.
    const within = compressed(Buffer.concat([
      Buffer.from([104, 5, 119, 9, ...Buffer.from('telemetry'), 108, 0, 0, 0, 1, 119, 4, ...Buffer.from('bomb'), 106,
        116, 0, 0, 0, 0, 116, 0, 0, 0, 1, 119, 4, ...Buffer.from('list')]),
      (() => {
        const n = 500_000;
        const b = Buffer.alloc(5 + 2 * n + 1);
        b[0] = 108;
        b.writeUInt32BE(n, 1);
        b.fill(Buffer.from([104, 0]), 5, 5 + 2 * n);
        b[b.length - 1] = 106;
        return b;
      })(),
      Buffer.from([97, 1]),
    ]));
    assert.ok(bomb66.length < 64 * 1024 && bomb2.length < 4096 && within.length < 4096, `bomb sizes ${bomb66.length}, ${bomb2.length}, ${within.length}`);

    const watch = watchProcess();
    // Before the hello: a frame over max_hello_bytes (4 KiB) is not even read.
    const a = await open(port);
    const aReplies = replies(a);
    a.write(frame(bomb66));
    await a.closedByPeer;
    // A first frame within 4 KiB whose term inflates past it: refused before inflating (declared size), then one whose header lies.
    const b = await open(port);
    b.write(frame(bomb2));
    await b.closedByPeer;
    const c = await open(port);
    c.write(frame(liar));
    await c.closedByPeer;
    // Three of each, so a leak or a stall would add up.
    for (let i = 0; i < 3; i++) {
      const s = await open(port);
      s.write(frame(bomb66));
      await s.closedByPeer;
    }

    // After a hello with the right token: bombs are skipped and counted, the connection stays.
    const d = await open(port);
    const dReplies = replies(d);
    d.write(hello());
    await until(() => dReplies.length === 1, 5000, 'the welcome');
    for (let i = 0; i < 3; i++) d.write(frame(bomb66));
    d.write(frame(liar));
    d.write(frame(within));
    d.write(telemetryFrame(1));
    await until(() => eventsOf('telemetry.shop.after_bombs').length === 1, 10_000, 'the event after the bombs, on the same connection');
    // And a real node's forwarder after all of it.
    const node = erl('telemetry_client', [String(port), 'flood', '1']);
    assert.equal(await node.line('reply '), '{scope_welcome,1}');
    await until(() => eventsOf('telemetry.phoenix.endpoint.stop').length === 1, 10_000, 'the real node\'s event');
    const m = watch.stop();
    t.diagnostic(`beam_telemetry bombs: peak RSS ${m.rssMiB.toFixed(0)} MiB (${m.startRssMiB.toFixed(0)} MiB before), longest event-loop block ${m.maxLoopDelayMs.toFixed(0)} ms`);

    assert.equal(await refused(pipeline, 'hello_too_large'), 4);
    assert.match(Buffer.concat(aReplies).toString('latin1'), /scope_refused[\s\S]*the hello is over 4096 bytes/);
    // bomb2 before the hello, three bomb66 after it: term_limit; liar before and after: malformed.
    assert.equal(await refused(pipeline, 'term_limit'), 4);
    assert.equal(await refused(pipeline, 'malformed'), 2);
    assert.equal(d.destroyed, false, 'the authenticated connection stays open through its bombs');
    const bomb = eventsOf('telemetry.bomb');
    assert.equal(bomb.length, 1, 'the bomb that fits the limits decodes, and is mapped within them');
    assert.equal((bomb[0].attributes.list as unknown[]).length, 100);
    assert.equal(eventsOf('telemetry.shop.after_bombs')[0].attributes.n, 1);
    assertBounds('beam_telemetry bombs', m);
    d.destroy();
  });

  it('1 100 idle sockets without a hello cannot lock a real forwarder out: the oldest make room, the rest time out; all counted', async (t) => {
    const { port, pipeline } = await telemetryReceiver(t, { hello_timeout: '10s' });
    // ulimit -n here is far above 2 × 1 100 (no limit raised); the receiver holds at most max_pending_hellos (64) of them anyway.
    // In waves of 200, each accepted before the next: more at once than the listen backlog (511) would leave the
    // overflow to the kernel's SYN-ACK retransmissions, seconds later, and the test would measure those.
    const evicted = async (): Promise<number> => refused(pipeline, 'too_many_connections');
    const idle: Array<Awaited<ReturnType<typeof open>>> = [];
    while (idle.length < 1100) {
      idle.push(...await Promise.all(Array.from({ length: Math.min(200, 1100 - idle.length) }, () => open(port))));
      const expected = Math.max(0, idle.length - 64);
      await until(async () => (await evicted()) === expected, 10_000, `${expected} idle sockets closed as newer ones came`);
    }

    const node = erl('telemetry_client', [String(port), 'flood', '1']);
    assert.equal(await node.line('reply '), '{scope_welcome,1}');
    assert.equal(await refused(pipeline, 'hello_timeout'), 0, 'the forwarder got in while 64 strangers were still held');
    await until(() => eventsOf('telemetry.phoenix.endpoint.stop').length >= 1, 10_000, 'its event');

    await Promise.all(idle.map((s) => s.closedByPeer));
    // The forwarder's arrival made room by closing one more stranger; the 63 left reached hello_timeout.
    assert.equal(await evicted(), 1100 - 64 + 1);
    assert.equal(await refused(pipeline, 'hello_timeout'), 63);
    assert.equal(node.child.exitCode, null, 'the forwarder is still connected');
  });

  it('a wide event is cut to max_attributes and a large one to max_attribute_bytes, counted and noted on the event; 200 000-key events over max_frame_bytes are refused', async (t) => {
    const { port, pipeline } = await telemetryReceiver(t, { max_attribute_bytes: '4KiB' });
    const watch = watchProcess();
    // 20 events of 200 000 distinct keys (compressed frames of a few hundred KB inflating past 1 MiB), 20 of 60 000 keys, 1 of 20 × 1000 bytes.
    const node = erl('wide_telemetry_client', [String(port), '200000:1:20,60000:1:20,20:1000:1']);
    assert.equal(await node.line('reply '), '{scope_welcome,1}');
    await node.line('sent', 60_000);
    await until(async () => (await refused(pipeline, 'term_limit')) === 20 && eventsOf('telemetry.shop.wide').length === 21, 30_000, 'every wide event');
    const m = watch.stop();
    t.diagnostic(`wide events: peak RSS ${m.rssMiB.toFixed(0)} MiB (${m.startRssMiB.toFixed(0)} MiB before), longest event-loop block ${m.maxLoopDelayMs.toFixed(0)} ms; largest frame ${await node.line('frame_bytes ')} bytes`);

    const wide = eventsOf('telemetry.shop.wide');
    for (const e of wide.slice(0, 20)) {
      // measurements and 127 metadata keys: 128; the other 59 873 dropped and said so.
      assert.equal(Object.keys(e.attributes).length, 129);
      assert.equal(e.attributes['scope.attributes.dropped'], 60_000 - 127);
    }
    const dropped = (reason: string): Promise<number> => pipeline.metrics.sum('scope_beam_telemetry_dropped_attributes', { reason });
    assert.equal(await dropped('max_attributes'), 20 * (60_000 - 127));
    // 4096 bytes: measurements (8 + 8), then k1 (2 + 1000), k10, k11, k12 (3 + 1000 each) = 4027; k13 would pass 4096.
    const large = wide[20];
    assert.deepEqual(Object.keys(large.attributes).sort(), ['k1', 'k10', 'k11', 'k12', 'measurements', 'scope.attributes.dropped']);
    assert.equal(large.attributes['scope.attributes.dropped'], 16);
    assert.equal(await dropped('max_attribute_bytes'), 16);
    assert.equal((large.attributes.k1 as string).length, 1000);
    assertBounds('wide events', m);
  });

  it('a connection that stops sending is closed at idle_timeout; one that keeps sending keepalives is not', async (t) => {
    const { port, pipeline } = await telemetryReceiver(t, { idle_timeout: '1s' });
    const quiet = await open(port);
    const chatty = await open(port);
    replies(quiet);
    replies(chatty);
    quiet.write(hello());
    chatty.write(hello());
    const keepalive = termFrame(atom('scope_keepalive'));
    const timer = setInterval(() => chatty.write(keepalive), 200);
    t.after(() => clearInterval(timer));
    await quiet.closedByPeer;
    assert.equal(await refused(pipeline, 'idle_timeout'), 1);
    assert.equal(chatty.destroyed, false, 'keepalives keep a connection open');
    assert.equal(await refused(pipeline, 'malformed'), 0, 'keepalives are part of the protocol');
    chatty.write(telemetryFrame(7));
    await until(() => eventsOf('telemetry.shop.after_bombs').some((e) => e.attributes.n === 7), 5000, 'an event on the kept connection');
    clearInterval(timer);
    chatty.destroy();
  });

  it('max_buffered_bytes: incomplete frames across connections over the bound close the connection that went over', async (t) => {
    const { port, pipeline } = await telemetryReceiver(t, { max_buffered_bytes: '2MiB' });
    const holders = await Promise.all(Array.from({ length: 4 }, () => open(port)));
    const answers = holders.map((s) => replies(s));
    for (const s of holders) s.write(hello());
    await until(() => answers.every((a) => a.length === 1), 5000, 'four welcomes');
    // Three connections announce a frame of 1 MiB - 1 and send 700 000 bytes of it: two fit in 2 MiB, the third goes over.
    const head = Buffer.concat([Buffer.from([0]), u32(MiB - 1), Buffer.alloc(700_000, 1)]);
    const rest = Buffer.alloc(MiB - 1 - 700_000, 1);
    for (const s of holders.slice(0, 3)) s.write(head);
    const first = await Promise.race(holders.slice(0, 3).map((s, i) => s.closedByPeer.then(() => i)));
    assert.equal(await refused(pipeline, 'buffer_limit'), 1);
    const kept = [0, 1, 2].filter((i) => i !== first).map((i) => holders[i]);
    // The two kept finish their frames (not ETF: counted malformed, the connections stay), which releases their bytes...
    for (const s of kept) s.write(rest);
    await until(async () => (await refused(pipeline, 'malformed')) === 2, 5000, 'both frames complete');
    // ...so the fourth connection's partial frame now fits.
    holders[3].write(head);
    holders[3].write(rest);
    await until(async () => (await refused(pipeline, 'malformed')) === 3, 5000, 'the fourth frame complete');
    assert.equal(await refused(pipeline, 'buffer_limit'), 1);
    assert.ok(kept.every((s) => !s.destroyed) && !holders[3].destroyed);
    for (const s of holders) s.destroy();
  });
});

describe('beam_trace_port under a hostile trace-port peer', () => {
  it('term bombs from the trace port are refused before they are built; RSS < 300 MiB, loop never blocked > 1 s; the valid frame after them arrives', async (t) => {
    // Built before measuring (the attacker's cost).
    const frames = [
      frame(compressed(emptyTuples(66_000_000))), // declares 65 MB, over max_frame_bytes (16 MiB): term_limit before inflating
      frame(compressed(emptyTuples(66_000_000), 1000)), // declares 1000 bytes, inflates to 65 MB: malformed, zlib stopped at 1000
      frame(compressed(references(Math.floor((16 * MiB - 16) / 14)))), // 1.2 M references within 16 MiB: term_limit at maxTerms
      frame(compressed(emptyTuples(16 * MiB - 64))), // 8 M empty tuples within 16 MiB: term_limit at maxTerms
      frame(Buffer.concat([Buffer.from([131]), emptyTuples(16 * MiB - 64)])), // the same, uncompressed
      traceFrame({ tuple: ['trace', { pid: [80, 0] }, 'send', 'after_the_bombs', { pid: [81, 0] }] }),
    ];
    const peers: Socket[] = [];
    const server = createServer((socket) => {
      peers.push(socket);
      socket.on('error', () => undefined);
      for (const f of frames) socket.write(f);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    t.after(() => {
      for (const s of peers) s.destroy();
      return new Promise((r) => server.close(r));
    });
    const { port } = server.address() as { port: number };

    const watch = watchProcess();
    const pipeline = createPipeline({
      receivers: { beam_trace_port: { endpoint: `127.0.0.1:${port}` } },
      exporters: { hostile_sink: {} },
      service: { pipelines: { p: { receivers: ['beam_trace_port'], exporters: ['hostile_sink'] } }, telemetry: { metrics: { level: 'none' } } },
    }, { logger: silentLogger });
    await pipeline.start();
    t.after(() => pipeline.shutdown());
    await until(() => sink.events.some((e) => e.type === 'message.send' && e.attributes['beam.message'] === 'after_the_bombs'), 30_000, 'the valid trace frame after the bombs');
    const m = watch.stop();
    t.diagnostic(`trace-port bombs: peak RSS ${m.rssMiB.toFixed(0)} MiB (${m.startRssMiB.toFixed(0)} MiB before), longest event-loop block ${m.maxLoopDelayMs.toFixed(0)} ms`);
    assert.equal(await refused(pipeline, 'term_limit'), 4);
    assert.equal(await refused(pipeline, 'malformed'), 1);
    assert.equal(await refused(pipeline, 'bad_frame'), 0, 'well-framed bombs are skipped, the connection kept');
    assert.equal(await pipeline.metrics.sum('scope_beam_trace_port_connects'), 1);
    assertBounds('trace-port bombs', m);
  });
});

describe('beam_telemetry near the open-file limit', () => {
  it('a daemon under ulimit -n 1024 flooded with 1 100 idle sockets refuses and counts what it cannot hold instead of running out of descriptors, keeps running, and a real forwarder gets in after', async (t) => {
    const port = await freePort();
    const metricsPort = await freePort();
    const dir = tempDir(t);
    const config = join(dir, 'pipeline.yaml');
    // max_pending_hellos raised past the descriptor limit, so the strangers, not the cap, press on the limit.
    writeFileSync(config, [
      'receivers:',
      `  beam_telemetry: { endpoint: "127.0.0.1:${port}", auth: { token: s3cret }, hello_timeout: 3s, max_pending_hellos: 4096 }`,
      'exporters:',
      '  debug: { format: json }',
      'service:',
      '  pipelines: { p: { receivers: [beam_telemetry], exporters: [debug] } }',
      `  telemetry: { metrics: { level: normal, endpoint: "127.0.0.1:${metricsPort}" }, logs: { level: warn } }`,
      '',
    ].join('\n'));
    // The daemon's own limit (1024, a common default), set in its shell, soft and hard: this test process keeps its own, higher one.
    const child = spawn('sh', ['-c', `ulimit -n 1024 && exec "${process.execPath}" "${CLI}" --config "${config}"`], { stdio: 'pipe' });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    t.after(async () => {
      if (child.exitCode === null) child.kill('SIGKILL');
      await exited;
    });
    const refusedBy = async (reason: string): Promise<number> => {
      const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
      return promValue(text, 'scope_receiver_refused_items_total', { receiver: 'beam_telemetry', reason });
    };
    await until(async () => {
      if (child.exitCode !== null) throw new Error(`the daemon exited: ${stderr}`);
      return fetch(`http://127.0.0.1:${metricsPort}/metrics`).then(() => true, () => false);
    }, 15_000, 'the daemon to start');
    assert.match(stderr, /above what this process's open-file limit leaves for sockets/, 'the config that cannot be honoured is said at start');

    const flood = await Promise.allSettled(Array.from({ length: 1100 }, () => open(port)));
    const sockets = flood.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    assert.equal(sockets.length, 1100, 'every connection was made (the kernel queues them; accepting is the daemon\'s part)');
    // Every one is closed by the daemon: at once, refused near the limit, or at hello_timeout.
    await Promise.all(sockets.map((s) => s.closedByPeer));
    assert.equal(child.exitCode, null, `the daemon is still running (stderr: ${stderr})`);
    const refusedNearLimit = await refusedBy('fd_limit');
    const timedOut = await refusedBy('hello_timeout');
    // 1024 less the reserve of 128: at most 896 sockets held.
    assert.ok(refusedNearLimit >= 1100 - 896, `${refusedNearLimit} refused near the limit`);
    assert.equal(refusedNearLimit + timedOut, 1100, 'each idle socket counted once');
    assert.equal(await refusedBy('emfile'), 0);
    assert.doesNotMatch(stderr, /EMFILE/, 'the process never ran out of descriptors');
    const reported = stderr.split('\n').filter((l) => l.includes('close to its open-file limit'));
    assert.equal(reported.length, 1, 'reported once with its context, then summarized');
    const line = JSON.parse(reported[0]) as Record<string, unknown>;
    assert.equal(line.component, 'beam_telemetry');
    assert.equal(line.open_file_limit, 1024);

    const node = erl('telemetry_client', [String(port), 'flood', '1']);
    assert.equal(await node.line('reply '), '{scope_welcome,1}');
    await until(() => stdout.includes('telemetry.phoenix.endpoint.stop'), 10_000, `its event on the daemon's stdout (stderr: ${stderr})`);
    assert.equal(child.exitCode, null);
  });
});

// ---------------------------------------------------------------------------
// TLS: a real Elixir forwarder (ScopeBeam.attach(tls: …), OTP's :ssl) against the real receiver (node:tls)

/** Certificates made here with openssl: a CA, the receiver's (127.0.0.1 and localhost), a forwarder's client certificate, and a CA nobody uses. */
function makeCertificates(dir: string): Record<'ca' | 'serverCert' | 'serverKey' | 'clientCert' | 'clientKey' | 'otherCa' | 'rogueCert' | 'rogueKey', string> {
  const run = (...args: string[]): void => {
    execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  };
  const ca = (name: string): void => run('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', '2', '-subj', `/CN=${name}`);
  const leaf = (name: string, cn: string, ext: string, issuer = 'ca'): void => {
    run('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`);
    writeFileSync(join(dir, `${name}.ext`), ext);
    run('x509', '-req', '-in', `${name}.csr`, '-CA', `${issuer}.pem`, '-CAkey', `${issuer}.key`, '-CAcreateserial', '-out', `${name}.pem`, '-days', '2', '-extfile', `${name}.ext`);
  };
  ca('ca');
  ca('other-ca');
  leaf('server', 'scope-pipeline', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  leaf('client', 'shop@host', 'extendedKeyUsage=clientAuth\n');
  leaf('rogue-client', 'rogue@host', 'extendedKeyUsage=clientAuth\n', 'other-ca');
  const f = (n: string): string => join(dir, n);
  return {
    ca: f('ca.pem'), serverCert: f('server.pem'), serverKey: f('server.key'), clientCert: f('client.pem'), clientKey: f('client.key'),
    otherCa: f('other-ca.pem'), rogueCert: f('rogue-client.pem'), rogueKey: f('rogue-client.key'),
  };
}

/** ScopeBeam.attach(tls: [cacertfile: Ca] ++ client certificate ++ server_name) in a real Elixir node; prints "stats <ScopeBeam.stats()>" once connected or after 5 s, then "emitted". */
const FORWARDER = `
[port, ca, cert, key, name] = System.argv()
Logger.configure(level: :none)
tls = [cacertfile: ca] ++ if(cert == "-", do: [], else: [certfile: cert, keyfile: key]) ++ if(name == "-", do: [], else: [server_name: name])
{:ok, _} = ScopeBeam.attach(port: String.to_integer(port), app: :shop, token: "s3cret", tls: tls, handlers: [], events: [[:shop, :tls, :tick]],
                            sample_interval: :infinity, backoff_min: 50, backoff_max: 200, keepalive_interval: 200)
wait = fn wait, n -> if ScopeBeam.stats().connected == true or n == 0, do: :ok, else: (Process.sleep(20); wait.(wait, n - 1)) end
wait.(wait, 250)
IO.puts("stats #{inspect(ScopeBeam.stats())}")
:telemetry.execute([:shop, :tls, :tick], %{n: 1}, %{note: "over tls"})
IO.puts("emitted")
# Silent for longer than the receiver's idle_timeout in the test (1 s): only keepalives keep the connection.
Process.sleep(1_500)
:telemetry.execute([:shop, :tls, :tick], %{n: 2}, %{note: "later"})
IO.puts("later #{inspect(ScopeBeam.stats())}")
Process.sleep(:infinity)
`;

describe('beam_telemetry over TLS, a real Elixir forwarder (ScopeBeam.attach tls:)', () => {
  let ebin = '';
  let telemetryEbin = '';
  let certs: ReturnType<typeof makeCertificates>;
  const running: ChildProcessWithoutNullStreams[] = [];
  before(() => {
    const build = processScratchDir('scope-beam-tls-');
    // Its own build path, so this never races another test file compiling beam-receiver.
    execFileSync('mix', ['compile'], { cwd: join(ROOT, 'beam-receiver'), env: { ...process.env, MIX_ENV: 'prod', HEX_OFFLINE: '1', MIX_BUILD_PATH: build }, stdio: 'pipe' });
    ebin = join(build, 'lib', 'scope_beam', 'ebin');
    telemetryEbin = processScratchDir('scope-telemetry-');
    execFileSync('erlc', ['-o', telemetryEbin, join(ROOT, 'beam-receiver', 'test', 'support', 'telemetry.erl')], { stdio: 'pipe' });
    certs = makeCertificates(processScratchDir('scope-certs-'));
  });
  after(() => {
    for (const c of running) if (c.exitCode === null) c.kill('SIGKILL');
  });

  function forwarder(port: number, ca: string, client?: { cert: string; key: string }, serverName?: string): { line(prefix: string): Promise<string> } {
    const args = [String(port), ca, client?.cert ?? '-', client?.key ?? '-', serverName ?? '-'];
    const child = spawn('elixir', ['-pa', ebin, '-pa', telemetryEbin, '-e', FORWARDER, ...args], { stdio: 'pipe' });
    running.push(child);
    const { lines, stderr } = outputOf(child);
    return {
      async line(prefix) {
        let found: string | undefined;
        await until(() => {
          found = lines.find((l) => l.startsWith(prefix));
          if (found === undefined && child.exitCode !== null) throw new Error(`elixir exited: ${lines.join('\n')}\n${stderr()}`);
          return found !== undefined;
        }, 30_000, `"${prefix}" from the Elixir forwarder (stdout: ${lines.join(' | ')}; stderr: ${stderr()})`);
        return (found as string).slice(prefix.length).trim();
      },
    };
  }

  it('verify_peer both ways: the forwarder checks the receiver against its CA, the receiver requires a client certificate; events arrive; the wrong CA, a missing client certificate and plaintext are refused and counted', async (t) => {
    const { port, pipeline } = await telemetryReceiver(t, { tls: { cert_file: certs.serverCert, key_file: certs.serverKey, client_ca_file: certs.ca } });

    const good = forwarder(port, certs.ca, { cert: certs.clientCert, key: certs.clientKey });
    assert.match(await good.line('stats '), /connected: true.*tls: true/);
    await good.line('emitted');
    await until(() => eventsOf('telemetry.shop.tls.tick').length === 1, 15_000, 'the event sent over TLS');
    const tick = eventsOf('telemetry.shop.tls.tick')[0];
    assert.equal(tick.attributes.note, 'over tls');
    assert.equal(tick.source.app, 'shop');

    // A forwarder that trusts another CA does not accept the receiver's certificate (verify_peer): it never says hello.
    const distrustful = forwarder(port, certs.otherCa, { cert: certs.clientCert, key: certs.clientKey });
    assert.match(await distrustful.line('stats '), /connected: false.*last_error: \{:tls_alert, \{:unknown_ca/);
    // A forwarder without a client certificate, or with one another CA signed, is refused by the receiver.
    const anonymous = forwarder(port, certs.ca);
    const rogue = forwarder(port, certs.ca, { cert: certs.rogueCert, key: certs.rogueKey });
    // With TLS 1.3 the client's side of the handshake ends before the server has judged its certificate: the
    // server's alert then races its close, and the forwarder sees either (the receiver counts it either way, below).
    assert.match(await anonymous.line('stats '), /connected: false.*last_error: (\{:tls_alert, \{:certificate_required|:closed)/);
    assert.match(await rogue.line('stats '), /connected: false/);
    // Plaintext to a TLS receiver: not a handshake.
    const plain = await open(port);
    plain.write(hello());
    await plain.closedByPeer;
    await until(async () => (await refused(pipeline, 'tls_handshake')) >= 3, 10_000, 'the failed handshakes counted');
    await good.line('later ');
    await until(() => eventsOf('telemetry.shop.tls.tick').length === 2, 15_000, 'the verified forwarder\'s second event');
    assert.equal(await pipeline.metrics.sum('scope_receiver_accepted_items'), 2, 'only the verified forwarder\'s events');
  });

  it('server-only TLS (no client_ca_file): a forwarder with just cacertfile connects, by IP or by name; a name the certificate does not carry is refused; keepalives carry it through idle_timeout', async (t) => {
    const { port, pipeline } = await telemetryReceiver(t, { tls: { cert_file: certs.serverCert, key_file: certs.serverKey }, idle_timeout: '1s' });
    const before = eventsOf('telemetry.shop.tls.tick').length;
    const byIp = forwarder(port, certs.ca);
    const byName = forwarder(port, certs.ca, undefined, 'localhost');
    const wrongName = forwarder(port, certs.ca, undefined, 'shop.example.com');
    assert.match(await byIp.line('stats '), /connected: true.*tls: true/);
    assert.match(await byName.line('stats '), /connected: true.*tls: true/);
    assert.match(await wrongName.line('stats '), /connected: false.*hostname_check_failed/);
    // Each forwarder's second event comes after 1.5 s of silence but for its keepalives (every 200 ms): on the same connection.
    assert.match(await byIp.line('later '), /connected: true.*reconnects: 0/);
    assert.match(await byName.line('later '), /connected: true.*reconnects: 0/);
    await until(() => eventsOf('telemetry.shop.tls.tick').length === before + 4, 15_000, 'the two verified forwarders\' events');
    assert.equal(await refused(pipeline, 'idle_timeout'), 0);
    assert.equal(await refused(pipeline, 'malformed'), 0, 'keepalives are protocol terms, not malformed ones');
  });
});
