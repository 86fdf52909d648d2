/**
 * Issue 18's "Done when": `inspect crash latest --daemon …` shows a crash
 * within 2 s of it happening, before any Parquet file exists — on a real
 * Elixir node. The OTP application of crash_chain.exs (supervisor, GenServers
 * A → B → C, B casts C a poison, C dies and is restarted) is traced through
 * the default pipeline's processors with the inspector extension on (with a
 * token) and a parquet exporter that rolls no file for an hour. As soon as
 * the correlation processor emitted the crash, and while the node and the
 * pipeline still run, the real CLI (a child process, spawned asynchronously:
 * the pipeline runs on this process's event loop) is asked for the latest
 * crash over the daemon's live window.
 *
 * The 2 s run from the crash's own time (story.crash.time: the node's system
 * time of C's exit, the same machine's clock) to the CLI's answer: they hold
 * correlation's crash_window (1 s: the crash is held until its restart is
 * seen) and its tick, the batch processor's timeout (200 ms), the harness's
 * 20 ms poll and the CLI's own start (node + DuckDB).
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { CLI, freePort, ROOT } from '../helpers.js';
import { captureCrashChain, CRASH_CHAIN_POISON } from './crash_chain.js';
import type { CrashStory } from '../../src/inspect/types.js';

const TOKEN = 'a-token-of-at-least-16-characters';
/** The bound, from the crash to the CLI's answer. */
const WITHIN_MS = 2_000;

interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
  /** Date.now() when the CLI exited. */
  answeredAtMs: number;
}

/** The CLI as a child process, without blocking this process's event loop (the pipeline runs on it). */
function cli(args: string[]): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr, answeredAtMs: Date.now() });
    });
  });
}

const parquetFiles = (dir: string): string[] => (existsSync(dir) ? readdirSync(dir, { recursive: true }).map(String).filter((f) => f.endsWith('.parquet')) : []);

it('inspect crash latest --daemon explains a real Elixir crash within 2 s of it, before any Parquet file exists', async (t) => {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  let json: CliResult | undefined;
  let table: CliResult | undefined;
  let seen: { crashSeenAtMs: number; filesBefore: string[]; filesAfter: string[] } | undefined;

  const run = await captureCrashChain(t, {
    // No file rolls while the node runs: not by age, and the run is far below max_file_rows / max_file_bytes.
    parquet: { max_file_age: '1h' },
    extensions: { inspector: { endpoint: `127.0.0.1:${port}`, auth: { bearer_token: TOKEN } } },
    whileRunning: async ({ crashSeenAtMs, archive }) => {
      const filesBefore = parquetFiles(archive);
      const args = ['inspect', 'crash', 'latest', '--daemon', url, '--token', TOKEN, '--archive', archive];
      json = await cli([...args, '--format', 'json']);
      table = await cli(args);
      seen = { crashSeenAtMs, filesBefore, filesAfter: parquetFiles(archive) };
    },
  });

  assert.ok(seen && json && table, 'whileRunning ran');
  assert.deepEqual(seen.filesBefore, [], 'no Parquet file when the crash was emitted');
  assert.deepEqual(seen.filesAfter, [], 'no Parquet file rolled while the CLI answered: it answered from the live window');
  assert.ok(parquetFiles(run.archive).length > 0, 'the files came at shutdown');
  assert.equal(run.shutdown.drained, true);

  assert.equal(json.status, 0, json.stderr);
  const story = JSON.parse(json.stdout) as CrashStory;
  assert.equal(story.crash.pid, run.pids.c);
  assert.equal(story.crash.node, run.node);
  assert.equal(story.crash.rootCause, true);
  assert.equal(story.exception, 'function_clause');
  assert.deepEqual({ message: story.poison?.message, sender: story.poison?.sender }, { message: CRASH_CHAIN_POISON, sender: run.pids.b });
  assert.deepEqual(story.restarts, [{ supervisor: run.pids.sup, oldPid: run.pids.c, newPid: run.pids.cNew, initialCall: "'Elixir.CrashChain.C':init/1" }]);

  const crashedAtMs = Number(BigInt(story.crash.time.unixNano) / 1_000_000n);
  const latency = json.answeredAtMs - crashedAtMs;
  console.log(`# crash → answered over --daemon in ${latency} ms (emitted after ${seen.crashSeenAtMs - crashedAtMs} ms, the CLI took ${json.answeredAtMs - seen.crashSeenAtMs} ms)`);
  assert.ok(latency >= 0, `the answer (${json.answeredAtMs}) came before the crash (${crashedAtMs})?`);
  assert.ok(latency <= WITHIN_MS, `the crash was explained ${latency} ms after it happened (the issue wants ≤ ${WITHIN_MS} ms): emitted ${seen.crashSeenAtMs - crashedAtMs} ms after it, the CLI took ${json.answeredAtMs - seen.crashSeenAtMs} ms`);

  assert.equal(table.status, 0, table.stderr);
  const escape = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  assert.match(table.stdout, new RegExp(`^ +poison +${escape(CRASH_CHAIN_POISON)}$`, 'm'));
  assert.match(table.stdout, new RegExp(`restarted by ${escape(run.pids.sup)} as ${escape(run.pids.cNew)}`));
});
