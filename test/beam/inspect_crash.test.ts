/**
 * `scope-pipeline inspect crashes` and `inspect crash` (issue 18) as a user
 * runs them: the real CLI over the archive of a real Elixir crash (the OTP
 * application of crash_chain.exs: supervisor, GenServers A → B → C, B casts C
 * a poison, C dies and is restarted), traced through the default pipeline's
 * processors. The JSON form is asserted field by field against what the node
 * reported (pids, the poison, the restart); the table form against a
 * snapshot with the run's pids, times and ids replaced by names.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, ROOT } from '../helpers.js';
import { captureCrashChain, CRASH_CHAIN_POISON, type CrashChainRun } from './crash_chain.js';
import type { CrashStory, CrashSummary } from '../../src/inspect/types.js';

function cli(args: string[], env: NodeJS.ProcessEnv = {}): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, ...env }, timeout: 30_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('inspect over the archive of a real Elixir crash', () => {
  let run: CrashChainRun;
  const hooks: Array<() => unknown> = [];
  before(async () => {
    run = await captureCrashChain({ after: (fn) => hooks.push(fn) });
  });
  // The harness cleans up through the hooks it is given: once, after the whole suite.
  after(async () => {
    for (const fn of hooks.splice(0)) await fn();
  });

  /** The run's own values as names, so the table form can be compared with a snapshot. */
  const anonymise = (text: string): string => {
    const names: Array<[string, string]> = [
      [run.pids.cNew, '<C2>'], [run.pids.sup, '<SUP>'], [run.pids.a, '<A>'], [run.pids.b, '<B>'], [run.pids.c, '<C>'], [run.node, 'NODE'],
    ];
    let out = text;
    for (const [value, name] of names) out = out.split(value).join(name);
    return out
      .replace(/\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}\.\d+Z?/g, 'TIME')
      .replace(/\b[0-9a-f]{32}\b/g, 'TRACE_ID').replace(/\b[0-9a-f]{16}\b/g, 'SPAN_ID')
      .replace(/\d+(\.\d+)? ms/g, 'N ms').replace(/\(\d+ spans, \d+ processes\)/, '(N spans, N processes)')
      .replace(/\/[^"\s,)]*crash_chain\.exs/g, 'crash_chain.exs')
      // Column padding follows the real pids' lengths: compared as one gap.
      .replace(/ {2,}/g, '  ');
  };

  it('inspect crashes --format json: one root cause, C, with the poison; nothing for A, B or the supervisor', () => {
    const r = cli(['inspect', 'crashes', '--archive', run.archive, '--format', 'json']);
    assert.equal(r.status, 0, r.stderr);
    const crashes = JSON.parse(r.stdout) as CrashSummary[];
    assert.equal(crashes.length, 1);
    const [c] = crashes;
    assert.deepEqual(
      { pid: c.pid, node: c.node, registeredName: c.registeredName, rootCause: c.rootCause, rootPid: c.rootPid, rule: c.rule, poisonMessage: c.poisonMessage, consequences: c.consequences },
      { pid: run.pids.c, node: run.node, registeredName: 'Elixir.CrashChain.C', rootCause: true, rootPid: run.pids.c, rule: 'crash_report', poisonMessage: CRASH_CHAIN_POISON, consequences: [] },
    );
    assert.match(c.reason, /^\{function_clause,\[\{'Elixir\.CrashChain\.C',handle_cast,/);
    assert.match(c.time.iso, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{9}Z$/);
    assert.equal(BigInt(c.time.unixNano) > 0n, true);
    assert.match(c.traceId ?? '', /^[0-9a-f]{32}$/);
  });

  it('inspect crash latest --format json: the poison, B as its sender and B\'s span at the time, the stack, the restart with the new pid', (t) => {
    const r = cli(['inspect', 'crash', 'latest', '--archive', run.archive, '--format', 'json']);
    assert.equal(r.status, 0, r.stderr);
    const story = JSON.parse(r.stdout) as CrashStory;
    assert.equal(story.crash.pid, run.pids.c);
    assert.equal(story.exception, 'function_clause');
    assert.equal(story.reasonClass, 'error');
    assert.deepEqual({ message: story.poison?.message, sender: story.poison?.sender }, { message: CRASH_CHAIN_POISON, sender: run.pids.b });
    const span = story.poison?.senderSpan;
    assert.ok(span, 'the sender\'s span at the time');
    assert.equal(span.pid, run.pids.b);
    assert.equal(span.name, 'CrashChain.B.handle_call/3');
    assert.equal(span.traceId, story.crash.traceId, 'the sender\'s span is in the crash\'s trace');
    assert.match(story.stack[0], /^CrashChain\.C\.handle_cast\/2 \(.*crash_chain\.exs:\d+\)$/);
    assert.ok(story.stack.some((f) => f.startsWith('gen_server:try_dispatch/4')));
    assert.ok(story.lastMessages.some((m) => m.message === CRASH_CHAIN_POISON && m.from === run.pids.b));
    assert.deepEqual(story.restarts, [{ supervisor: run.pids.sup, oldPid: run.pids.c, newPid: run.pids.cNew, initialCall: "'Elixir.CrashChain.C':init/1" }]);
    assert.deepEqual(story.diedNext, []);
    // The call C was in when it died: the poison's handling, in error.
    assert.deepEqual(story.openSpans.map((s) => [s.name, s.pid, s.status]), [['CrashChain.C handle_cast apply_discount', run.pids.c, 'error']]);
    assert.equal(story.causedBy, null);
    assert.ok(story.trace && story.trace.spans >= 5 && story.trace.processes >= 3, JSON.stringify(story.trace));
    // C was watched: the state it had when the poison came, the last of its six recorded changes.
    assert.deepEqual([story.stateBefore?.state, story.stateBefore?.seq], ['%{discounts: [], ledger: [{"order-3", 849}, {"order-2", 599}, {"order-1", 349}]}', 6]);

    // The same crash asked for by pid, and by the crash event's id.
    for (const which of [run.pids.c, story.crash.id]) {
      const again = cli(['inspect', 'crash', which, '--archive', run.archive, '--format', 'json']);
      assert.equal(again.status, 0, again.stderr);
      assert.deepEqual(JSON.parse(again.stdout), story);
    }
  });

  it('the table forms match their snapshots, fit 100 columns, and carry no colour when piped or with NO_COLOR', () => {
    const list = cli(['inspect', 'crashes', '--archive', run.archive]);
    assert.equal(list.status, 0, list.stderr);
    const story = cli(['inspect', 'crash', 'latest', '--archive', run.archive], { NO_COLOR: '1' });
    assert.equal(story.status, 0, story.stderr);
    for (const out of [list.stdout, story.stdout]) {
      for (const line of out.split('\n')) assert.ok([...line].length <= 100, `over 100 columns: ${line}`);
      assert.doesNotMatch(out, /\x1b\[/);
    }
    // UPDATE_SNAPSHOTS=1 rewrites them from this run (then review the diff).
    const snapshot = (name: string, actual: string): string => {
      const path = join(ROOT, 'test/beam/snapshots', name);
      if (process.env.UPDATE_SNAPSHOTS === '1') writeFileSync(path, actual);
      return readFileSync(path, 'utf8');
    };
    assert.equal(anonymise(list.stdout), snapshot('inspect_crashes.txt', anonymise(list.stdout)));
    // The story's "last messages" depend on which modules the node loaded lazily; the rest is compared whole.
    const stable = anonymise(story.stdout.replace(/  last messages\n(    .*\n)+/, '  last messages\n    …\n'));
    assert.equal(stable, snapshot('inspect_crash.txt', stable));
  });

  it('refuses what it cannot answer with a clear message and exit 1', () => {
    const none = cli(['inspect', 'crash', '<0.999.0>', '--archive', run.archive]);
    assert.equal(none.status, 1);
    assert.match(none.stderr, /no crash of <0\.999\.0> in the archive/);
    const verb = cli(['inspect', 'explode', '--archive', run.archive]);
    assert.equal(verb.status, 1);
    assert.match(verb.stderr, /inspect needs a verb: crashes, crash, process, processes, state, trace, messages, anomalies, test-case \(not "explode"\)/);
    const since = cli(['inspect', 'crashes', '--since', 'yesterday', '--archive', run.archive]);
    assert.equal(since.status, 1);
    assert.match(since.stderr, /--since "yesterday" is not a time/);
    const missing = cli(['inspect', 'crashes', '--archive', join(run.archive, 'nope')]);
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /no archive at/);
    // Later than the crash: nothing; a node that is not there: nothing.
    const later = cli(['inspect', 'crashes', '--since=-1s', '--archive', run.archive, '--format', 'json']);
    assert.equal(later.status, 0, later.stderr);
    assert.deepEqual(JSON.parse(later.stdout), []);
    const other = cli(['inspect', 'crashes', '--node', 'other@host', '--archive', run.archive, '--format', 'json']);
    assert.equal(other.status, 0, other.stderr);
    assert.deepEqual(JSON.parse(other.stdout), []);
  });
});
