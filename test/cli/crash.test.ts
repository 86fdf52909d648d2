/**
 * A bug that escapes every component does not end the daemon silently: one
 * log line says what and where, the pipeline drains as on SIGTERM, exit 1.
 * The failing component is a real exporter registered through the public
 * registerComponent() in a module Node preloads into the real daemon
 * (NODE_OPTIONS=--import), see crashing_exporter.ts.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { eventToJson } from '../../src/index.js';
import { ROOT, event, startDaemon, tempDir } from '../helpers.js';

const FIXTURE = pathToFileURL(join(ROOT, 'build/test/cli/crashing_exporter.js')).href;
const EVENTS = 5;

interface LogLine { level: string; msg: string; [field: string]: unknown }

async function crash(t: { after(fn: () => void): void }, mode: 'throw' | 'builtin' | 'reject') {
  const dir = tempDir(t);
  const input = join(dir, 'in.jsonl');
  const output = join(dir, 'out.jsonl');
  writeFileSync(input, Array.from({ length: EVENTS }, () => eventToJson(event()) + '\n').join(''));
  const config = join(dir, 'p.yaml');
  writeFileSync(config, `
receivers: { jsonl: { path: ${input} } }
exporters:
  crashing: { mode: ${mode} }
  debug: { path: ${output}, format: json }
service:
  pipelines: { p: { receivers: [jsonl], exporters: [crashing, debug] } }
  telemetry: { metrics: { level: none } }
`);
  const daemon = startDaemon(['--config', config], { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import=${FIXTURE}`.trim() });
  t.after(() => daemon.child.kill('SIGKILL'));
  const timeout = setTimeout(() => daemon.child.kill('SIGKILL'), 20_000);
  const { code, signal } = await daemon.exited();
  clearTimeout(timeout);
  const stderr = daemon.stderr();
  const lines = stderr.trim().split('\n').map((l) => {
    try {
      return JSON.parse(l) as LogLine;
    } catch {
      return assert.fail(`a log line that is not one JSON line: ${l}\n${stderr}`);
    }
  });
  const delivered = readFileSync(output, 'utf8').trim().split('\n').filter((l) => l !== '').length;
  return { code, signal, stderr, lines, delivered };
}

function checkDrained(r: Awaited<ReturnType<typeof crash>>, what: string): LogLine {
  assert.equal(r.signal, null, r.stderr);
  assert.equal(r.code, 1, r.stderr);
  const reports = r.lines.filter((l) => l.msg === what);
  assert.equal(reports.length, 1, r.stderr);
  const at = r.lines.indexOf(reports[0]);
  const draining = r.lines.findIndex((l) => l.msg === 'draining');
  const stopped = r.lines.findIndex((l) => l.msg === 'pipeline stopped');
  assert.ok(at >= 0 && draining > at && stopped > draining, r.stderr);
  assert.equal(r.lines[draining].reason, what);
  assert.equal(r.lines[stopped].drained, true, 'a normal drain');
  assert.equal(reports[0].level, 'error');
  // What the other exporter acknowledged was delivered.
  assert.equal(r.delivered, EVENTS);
  return reports[0];
}

describe('uncaught errors in the daemon', () => {
  it('an uncaught exception is logged with its stack and where, then the pipeline drains and exits 1', async (t) => {
    const r = await crash(t, 'throw');
    const report = checkDrained(r, 'uncaught exception');
    assert.equal(report.error, 'crashing exporter: thrown outside any call');
    assert.match(String(report.where), /^build\/test\/cli\/crashing_exporter\.js:\d+:\d+$/);
    assert.match(String(report.stack), /^Error: crashing exporter: thrown outside any call\n\s+at .*crashing_exporter\.js:\d+:\d+/);
    assert.equal(report.component, undefined, 'a component from outside the package is known by its file only');
    assert.equal(report.kind, undefined);
  });

  it('names the built-in component whose code threw', async (t) => {
    const r = await crash(t, 'builtin');
    const report = checkDrained(r, 'uncaught exception');
    assert.match(String(report.error), /Cannot read properties of null/);
    assert.equal(report.kind, 'exporter');
    assert.equal(report.component, 'debug');
    assert.match(String(report.where), /^build\/src\/exporters\/debug\/render\.js:\d+:\d+$/);
    assert.match(String(report.stack), /^TypeError: /);
  });

  it('an unhandled rejection is logged the same way and drains too', async (t) => {
    const r = await crash(t, 'reject');
    const report = checkDrained(r, 'unhandled rejection');
    assert.equal(report.error, 'crashing exporter: a promise nobody awaited');
    assert.match(String(report.where), /^build\/test\/cli\/crashing_exporter\.js:\d+:\d+$/);
    assert.match(String(report.stack), /crashing_exporter\.js/);
  });
});
