/**
 * Records real trace frames from the load generator (bench/beam/loadgen.erl)
 * into bench/data/trace-capture.bin, the input of the etf-decode benchmark.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BENCH_ROOT } from './lib.js';

export const CAPTURE_FILE = join(BENCH_ROOT, 'data', 'trace-capture.bin');

export function compileBeam(...modules: string[]): string {
  const out = mkdtempSync(join(tmpdir(), 'scope-bench-erl-'));
  process.once('exit', () => rmSync(out, { recursive: true, force: true }));
  execFileSync('erlc', ['-o', out, ...modules.map((m) => join(BENCH_ROOT, 'beam', `${m}.erl`))], { stdio: 'pipe' });
  return out;
}

export async function recordCapture(messages = 300_000, file = CAPTURE_FILE): Promise<string> {
  if (existsSync(file)) return file;
  mkdirSync(join(BENCH_ROOT, 'data'), { recursive: true });
  const code = compileBeam('loadgen');
  const node = spawn('erl', ['-noshell', '-pa', code, '-run', 'loadgen', 'main', '0', String(messages), '1000000'], { stdio: 'pipe' });
  let out = '';
  node.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const waitFor = (re: RegExp): Promise<RegExpExecArray> => new Promise((resolve, reject) => {
    const timer = setInterval(() => {
      const m = re.exec(out);
      if (m) {
        clearInterval(timer);
        resolve(m);
      } else if (node.exitCode !== null) {
        clearInterval(timer);
        reject(new Error(`loadgen exited: ${out}`));
      }
    }, 10);
  });
  const port = Number((await waitFor(/port (\d+)/))[1]);
  const socket = connect({ host: '127.0.0.1', port });
  const chunks: Buffer[] = [];
  socket.on('data', (d: Buffer) => chunks.push(d));
  await new Promise((resolve) => socket.once('connect', resolve));
  node.stdin.write('go\n');
  await waitFor(/done (\d+) (\d+)/);
  // The driver may still be writing its queue: wait until the byte count stops growing.
  let size = -1;
  for (;;) {
    await new Promise((r) => setTimeout(r, 200));
    const now = chunks.reduce((n, c) => n + c.length, 0);
    if (now === size) break;
    size = now;
  }
  socket.destroy();
  node.stdin.end('stop\n');
  await new Promise((resolve) => node.once('exit', resolve));
  writeFileSync(file, Buffer.concat(chunks));
  return file;
}
