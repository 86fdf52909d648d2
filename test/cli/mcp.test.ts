/**
 * `scope-pipeline mcp` driven by the MCP SDK's own client over stdio (the
 * real CLI as a child process): the tools are listed with their JSON Schemas,
 * each answers valid input with structured results the archive holds, bad
 * input and unanswerable questions come back as tool errors with the reason
 * (the server stays up), and query_sql is sandboxed as `query` is.
 */
import { before, after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { CLI, promValue, ROOT, startDaemon, tempDir, until } from '../helpers.js';

interface ToolResult { isError?: boolean; content: Array<{ type: string; text?: string }>; structuredContent?: Record<string, unknown> }

describe('mcp server', () => {
  let client: Client;
  let archive: string;
  const cleanups: Array<() => unknown> = [];
  before(async () => {
    const dir = tempDir({ after: (fn) => cleanups.push(fn) });
    archive = join(dir, 'archive');
    // An archive with a crash: the recorded capture of a cart process crashing, through correlation.
    const config = join(dir, 'p.yaml');
    // And one detection as the anomaly processor writes it (its fields as anomaly.ts emits them): its baselines
    // need hours of traffic to learn from, which a capture of a few events cannot give (test/beam/anomaly.test.ts
    // runs it against a real node).
    const detections = join(dir, 'anomaly.jsonl');
    writeFileSync(detections, `${JSON.stringify({
      kind: 'event', id: 'anomaly-test-1', type: 'anomaly.detected', schemaVersion: 1, time: '1764000000000090000',
      source: { node: 'shop@localhost', component: 'anomaly' }, pid: '<0.95.0>',
      attributes: { 'anomaly.kind': 'mailbox_growth', 'anomaly.key': 'shop@localhost|cart_42', 'anomaly.observed': 5000, 'anomaly.expected': 10, 'anomaly.score': 0.9, 'anomaly.window': 5 },
    })}\n`);
    writeFileSync(config, `
receivers: { jsonl/demo: { path: ${join(ROOT, 'examples/demo-capture.jsonl')} }, jsonl/anomaly: { path: ${detections} } }
processors: { correlation: {} }
exporters: { parquet: { path: ${archive} } }
service:
  pipelines: { p: { receivers: [jsonl/demo, jsonl/anomaly], processors: [correlation], exporters: [parquet] } }
  telemetry: { metrics: { endpoint: 127.0.0.1:0 } }
`);
    const daemon = startDaemon(['--config', config]);
    const metrics = await daemon.metricsUrl();
    await until(async () => promValue(await (await fetch(metrics)).text(), 'scope_correlation_crashes_total') > 0, 15_000, 'the crash correlated');
    daemon.child.kill('SIGTERM');
    assert.equal((await daemon.exited()).code, 0, daemon.stderr());

    client = new Client({ name: 'scope-test', version: '1.0.0' });
    await client.connect(new StdioClientTransport({ command: process.execPath, args: [CLI, 'mcp', '--archive', archive], cwd: ROOT, stderr: 'pipe' }));
  });
  after(async () => {
    await client?.close();
    for (const fn of cleanups) await fn();
  });

  const call = async (name: string, args: Record<string, unknown>): Promise<ToolResult> => (await client.callTool({ name, arguments: args })) as ToolResult;

  it('lists its tools with JSON Schema inputs and outputs', async () => {
    const { tools } = await client.listTools();
    assert.deepEqual(tools.map((t) => t.name).sort(), [
      'anomalies', 'explain_crash', 'generate_exunit_test', 'list_crashes', 'message_sequence', 'process_timeline', 'process_tree_at', 'query_sql', 'state_at', 'trace',
    ]);
    const explain = tools.find((t) => t.name === 'explain_crash');
    assert.equal(explain?.inputSchema.type, 'object');
    assert.deepEqual(explain?.inputSchema.required, ['crash']);
    assert.ok(explain?.outputSchema, 'structured output declared');
    assert.ok(tools.every((t) => t.annotations?.readOnlyHint === true));
  });

  it('list_crashes and explain_crash answer what the archive holds, as structured content', async () => {
    const list = await call('list_crashes', {});
    assert.equal(list.isError, undefined, JSON.stringify(list.content));
    const crashes = (list.structuredContent as { crashes: Array<{ pid: string; registeredName: string; rootCause: boolean }> }).crashes;
    assert.deepEqual(crashes.map((c) => [c.pid, c.registeredName, c.rootCause]), [['<0.95.0>', 'cart_42', true]]);
    assert.deepEqual(JSON.parse(list.content[0].text ?? ''), list.structuredContent, 'the text is the same JSON');

    const story = await call('explain_crash', { crash: 'latest' });
    assert.equal(story.isError, undefined, JSON.stringify(story.content));
    const s = (story.structuredContent as { story: { crash: { pid: string }; poison: { sender: string; message: string; senderSpan: { pid: string } } } }).story;
    assert.equal(s.crash.pid, '<0.95.0>');
    assert.equal(s.poison.sender, '<0.80.0>');
    assert.match(s.poison.message, /remove_item/);
    assert.equal(s.poison.senderSpan.pid, '<0.80.0>');
    const byPid = await call('explain_crash', { crash: '<0.95.0>' });
    assert.deepEqual(byPid.structuredContent, story.structuredContent);

    const anomalies = await call('anomalies', { kind: 'mailbox_growth' });
    assert.deepEqual(anomalies.structuredContent, { anomalies: [{
      id: 'anomaly-test-1', time: { unixNano: '1764000000000090000', iso: '2025-11-24T16:00:00.000090000Z' }, node: 'shop@localhost',
      kind: 'mailbox_growth', key: 'shop@localhost|cart_42', score: 0.9, observed: 5000, expected: 10, pid: '<0.95.0>', traceId: null, spanId: null,
    }] });
    assert.deepEqual((await call('anomalies', { kind: 'latency' })).structuredContent, { anomalies: [] });
    // The same on the terminal.
    const table = spawnSync(process.execPath, [CLI, 'inspect', 'anomalies', '--archive', archive], { encoding: 'utf8' });
    assert.equal(table.stdout, [
      'time                     kind            score  key',
      '2025-11-24 16:00:00.000  mailbox_growth   0.90  shop@localhost|cart_42  observed 5000, expected 10',
      '',
    ].join('\n'));
  });

  it('answers bad input and unanswerable questions with a tool error naming the reason, and stays up', async () => {
    const missing = await call('explain_crash', {});
    assert.equal(missing.isError, true);
    assert.match(missing.content[0].text ?? '', /Invalid arguments for tool explain_crash.*crash/s);
    const wrongType = await call('list_crashes', { since: 42 });
    assert.equal(wrongType.isError, true);
    assert.match(wrongType.content[0].text ?? '', /since/);
    const badTime = await call('list_crashes', { since: 'yesterday' });
    assert.equal(badTime.isError, true);
    assert.match(badTime.content[0].text ?? '', /since "yesterday" is not a time/);
    const none = await call('explain_crash', { crash: '<0.999.0>' });
    assert.equal(none.isError, true);
    assert.match(none.content[0].text ?? '', /no crash of <0\.999\.0>/);
    // The time-travel tools refuse what they cannot answer the same way.
    const fewProcesses = await call('message_sequence', { processes: ['<0.95.0>'] });
    assert.equal(fewProcesses.isError, true);
    assert.match(fewProcesses.content[0].text ?? '', /processes/);
    const noState = await call('state_at', { process: '<0.80.0>' });
    assert.equal(noState.isError, true);
    assert.match(noState.content[0].text ?? '', /has no recorded state: it was not watched/);
    // A state tracker that reports only the state reached (beam.state), as the capture's does.
    const state = await call('state_at', { process: 'cart_42' });
    assert.equal(state.isError, undefined, JSON.stringify(state.content));
    assert.deepEqual((state.structuredContent as { state: { pid: string; state: string; changes: number } }).state,
      { ...(state.structuredContent as { state: object }).state, pid: '<0.95.0>', state: '#{items => 1,total => 3998}', changes: 1 });
    const noName = await call('process_timeline', { process: 'Nobody.Here' });
    assert.match(noName.content[0].text ?? '', /no process registered as Nobody\.Here/);
    const badAt = await call('process_tree_at', {});
    assert.equal(badAt.isError, true);
    const unknown = await client.callTool({ name: 'drop_tables', arguments: {} }) as ToolResult;
    assert.equal(unknown.isError, true);
    assert.match(unknown.content[0].text ?? '', /Tool drop_tables not found/);
    // Still serving.
    assert.equal((await call('list_crashes', {})).isError, undefined);
  });

  it('query_sql reads the archive and refuses file access, writes and a second statement', async () => {
    const ok = await call('query_sql', { sql: "SELECT count(*)::INTEGER AS n FROM events WHERE type = 'process.crash'" });
    assert.equal(ok.isError, undefined, JSON.stringify(ok.content));
    assert.deepEqual(ok.structuredContent, { columns: ['n'], rows: [[1]], truncated: false });
    const refusals: Array<[string, RegExp]> = [
      ["SELECT * FROM read_csv('/etc/passwd')", /file access outside the archive is disabled \(read_csv/],
      ["COPY (SELECT 1) TO '/tmp/scope-mcp-out.csv'", /only one read-only statement is allowed/],
      ["ATTACH '/tmp/x.db'", /only one read-only statement is allowed/],
      ['SELECT 1; SELECT 2', /only one read-only statement is allowed \(found 2/],
    ];
    for (const [sql, reason] of refusals) {
      const r = await call('query_sql', { sql });
      assert.equal(r.isError, true, sql);
      assert.match(r.content[0].text ?? '', reason);
      // The CLI's way out is no way out for an assistant: not offered.
      assert.doesNotMatch(r.content[0].text ?? '', /--unsafe/);
    }
    const many = await call('query_sql', { sql: 'SELECT * FROM range(5000)' });
    const m = many.structuredContent as { rows: unknown[]; truncated: boolean };
    assert.deepEqual([m.rows.length, m.truncated], [1000, true]);
  });
});
