/**
 * `scope-pipeline mcp`: the inspection layer as Model Context Protocol tools
 * over stdio (the official @modelcontextprotocol/sdk), so an AI assistant
 * gets the same answers as `inspect`: typed results (structuredContent,
 * with the same JSON as text), JSON Schema inputs, and a refusal — never a
 * crash — for bad input or a question the archive cannot answer.
 */
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { z } from 'zod';
import { queryArchive } from '../archive/query.js';
import { ArchiveReader } from '../inspect/archive_reader.js';
import { listAnomalies } from '../inspect/anomalies.js';
import { explainCrash, listCrashes } from '../inspect/crashes.js';
import { fetchWindow, type LiveSource } from '../inspect/live.js';
import { messageSequence, MAX_SEQUENCE_PROCESSES } from '../inspect/messages.js';
import { processTimeline, processTreeAt, resolveProcess } from '../inspect/processes.js';
import { stateAt } from '../inspect/state.js';
import { generateExUnitTest } from '../inspect/test_case.js';
import { parseTime } from '../inspect/time.js';
import { latestErrorTrace, traceView } from '../inspect/trace.js';
import { VERSION } from '../version.js';

export interface McpOptions {
  archive: string;
  daemon?: LiveSource;
  /** Rows query_sql returns at most (more are cut, and said so). */
  maxRows?: number;
}

const when = z.object({ unixNano: z.string(), iso: z.string() });
const crashSummary = z.looseObject({
  id: z.string(), time: when, node: z.string(), pid: z.string(), reason: z.string(), rootCause: z.boolean(),
  consequences: z.array(z.looseObject({ pid: z.string() })),
});
const filters = {
  since: z.string().optional().describe('Only from this time on: RFC 3339 (2026-12-01T15:04:05Z) or relative (-15m, -2h, -1d).'),
  node: z.string().optional().describe('Only this BEAM node (name@host).'),
};

const pidInput = z.string().min(1).describe('A pid as the pipeline prints it (<0.123.0>) or a registered name (Shop.Cart, Elixir.Shop.Cart, my_server).');
const range = {
  from: z.string().optional().describe('From this time: RFC 3339 or relative (-15m).'),
  to: z.string().optional().describe('Until this time: RFC 3339 or relative.'),
  node: filters.node,
  limit: z.number().int().min(1).max(10_000).optional().describe('At most this many entries (default 500).'),
};

function timeOf(label: string, text: string | undefined): bigint | undefined {
  if (text === undefined) return undefined;
  const t = parseTime(text);
  if (t === null) throw new Error(`${label} "${text}" is not a time: use RFC 3339 or relative (-15m, -2h, -1d)`);
  return t;
}
const sinceOf = (text: string | undefined): bigint | undefined => timeOf('since', text);

/** The server with its tools, not yet connected (tests connect it to an in-memory or stdio transport). */
export function createMcpServer(options: McpOptions): McpServer {
  const server = new McpServer({ name: 'scope-pipeline', version: VERSION });
  const maxRows = options.maxRows ?? 1000;
  const withReader = async <T>(since: bigint | undefined, work: (reader: ArchiveReader) => Promise<T>): Promise<T> => {
    const live = options.daemon ? await fetchWindow(options.daemon, since ?? 0n) : undefined;
    const reader = await ArchiveReader.open(options.archive, live);
    try {
      return await work(reader);
    } finally {
      reader.close();
    }
  };
  const answer = <T extends Record<string, unknown>>(value: T) => ({ content: [{ type: 'text' as const, text: JSON.stringify(value, null, 2) }], structuredContent: value });

  server.registerTool('list_crashes', {
    title: 'List crashes',
    description: 'The crashes in the archive (and the daemon\'s live window): root causes first, each with the crashes it caused; pid, registered name, reason, poison message, trace id.',
    inputSchema: filters,
    outputSchema: { crashes: z.array(crashSummary) },
    annotations: { readOnlyHint: true },
  }, async ({ since, node }) => {
    const s = sinceOf(since);
    const crashes = await withReader(s, (reader) => listCrashes(reader, { since: s, node }));
    return answer({ crashes });
  });

  server.registerTool('explain_crash', {
    title: 'Explain a crash',
    description: 'One crash\'s story: reason, the poison message and its sender (with the span the sender was in), stack with file:line, last messages, open calls, the processes that went down after it, supervisor restarts with the new pids, and its trace.',
    inputSchema: {
      crash: z.string().min(1).describe('A pid as the pipeline prints it (<0.123.0>: its latest crash), a process.crash event id, or "latest" (the latest root cause).'),
      ...filters,
    },
    outputSchema: { story: z.looseObject({ crash: crashSummary, stack: z.array(z.string()) }) },
    annotations: { readOnlyHint: true },
  }, async ({ crash, since, node }) => {
    const s = sinceOf(since);
    const story = await withReader(s, (reader) => explainCrash(reader, crash, { since: s, node }));
    if (!story) throw new Error(crash === 'latest' ? 'no crash in the archive for these filters' : `no crash of ${crash} in the archive for these filters`);
    return answer({ story });
  });

  server.registerTool('process_timeline', {
    title: 'A process\'s timeline',
    description: 'One process\'s life in time order: who spawned it and as what, registered names, links, messages in and out with their peers, traced calls, state changes, its exit or crash.',
    inputSchema: { process: pidInput, ...range },
    outputSchema: { timeline: z.looseObject({ process: z.looseObject({ pid: z.string(), node: z.string() }), entries: z.array(z.looseObject({ kind: z.string(), text: z.string() })), total: z.number() }) },
    annotations: { readOnlyHint: true },
  }, async ({ process, from, to, node, limit }) => {
    const [f, t] = [timeOf('from', from), timeOf('to', to)];
    const timeline = await withReader(undefined, async (reader) => processTimeline(reader, await resolveProcess(reader, process, { node }), { from: f, to: t, limit }));
    return answer({ timeline });
  });

  server.registerTool('process_tree_at', {
    title: 'The process tree at an instant',
    description: 'The processes alive at a past instant on each node (from spawn and exit events and the attach snapshot), each under the process that spawned or supervises it, with registered names and behaviours.',
    inputSchema: { at: z.string().min(1).describe('The instant: RFC 3339 or relative (-5m).'), node: filters.node },
    outputSchema: { tree: z.looseObject({ at: when, nodes: z.array(z.looseObject({ node: z.string(), processes: z.number() })) }) },
    annotations: { readOnlyHint: true },
  }, async ({ at, node }) => {
    const moment = timeOf('at', at) as bigint;
    const tree = await withReader(undefined, (reader) => processTreeAt(reader, moment, { node }));
    return answer({ tree });
  });

  server.registerTool('state_at', {
    title: 'A GenServer\'s state at an instant',
    description: 'A watched GenServer\'s state at a past instant (from ScopeBeam.watch/1\'s state.change history) and the change that led to it: the message, its sender, the reply, the keys that changed.',
    inputSchema: { process: pidInput, at: z.string().optional().describe('The instant: RFC 3339 or relative (-5m). Default now.'), node: filters.node },
    outputSchema: { state: z.looseObject({ pid: z.string(), state: z.string().nullable(), changes: z.number() }) },
    annotations: { readOnlyHint: true },
  }, async ({ process, at, node }) => {
    const moment = timeOf('at', at) ?? BigInt(Date.now()) * 1_000_000n;
    const state = await withReader(undefined, async (reader) => stateAt(reader, await resolveProcess(reader, process, { node, at: moment }), moment));
    return answer({ state });
  });

  server.registerTool('trace', {
    title: 'A trace',
    description: 'One trace\'s spans in tree order with their processes (lanes), nodes, offsets, durations and errors. Give trace_id, or latest_error for the trace of the latest span that ended in error.',
    inputSchema: {
      trace_id: z.string().regex(/^[0-9a-f]{32}$/).optional().describe('32 lowercase hex digits.'),
      latest_error: z.boolean().optional().describe('The trace of the latest span that ended in error.'),
      ...filters,
    },
    outputSchema: { trace: z.looseObject({ traceId: z.string(), spans: z.array(z.looseObject({ spanId: z.string(), name: z.string() })) }) },
    annotations: { readOnlyHint: true },
  }, async ({ trace_id, latest_error, since, node }) => {
    if ((trace_id === undefined) === (latest_error !== true)) throw new Error('give trace_id or latest_error: true (one of them)');
    const s = sinceOf(since);
    const trace = await withReader(undefined, async (reader) => {
      const id = trace_id ?? await latestErrorTrace(reader, { since: s, node });
      if (id === null) throw new Error('no span ended in error in the archive for these filters');
      return traceView(reader, id);
    });
    return answer({ trace });
  });

  server.registerTool('message_sequence', {
    title: 'Messages between processes',
    description: 'The messages between some processes in time order (sender, receiver, kind: call, cast, reply, info…, the message), as a sequence chart draws them. Replies to gen_server calls are matched to their callers.',
    inputSchema: { processes: z.array(pidInput).min(2).max(MAX_SEQUENCE_PROCESSES), ...range },
    outputSchema: { sequence: z.looseObject({ messages: z.array(z.looseObject({ from: z.string(), to: z.string(), kind: z.string() })), total: z.number() }) },
    annotations: { readOnlyHint: true },
  }, async ({ processes, from, to, node, limit }) => {
    const [f, t] = [timeOf('from', from), timeOf('to', to)];
    const sequence = await withReader(undefined, async (reader) => {
      const refs = [];
      for (const p of processes) refs.push(await resolveProcess(reader, p, { node, at: t }));
      return messageSequence(reader, refs, { from: f, to: t, limit });
    });
    return answer({ sequence });
  });

  server.registerTool('anomalies', {
    title: 'Anomalies',
    description: 'What the anomaly processor flagged, newest first: latency regressions, error and crash bursts, message and spawn storms, mailbox and memory growth, each with its key, score (0..1), observed and expected values, and the pid or trace it points at.',
    inputSchema: {
      ...filters,
      kind: z.enum(['latency', 'error_burst', 'crash_burst', 'message_storm', 'spawn_storm', 'mailbox_growth', 'memory_growth']).optional(),
      limit: range.limit,
    },
    outputSchema: { anomalies: z.array(z.looseObject({ kind: z.string(), key: z.string() })) },
    annotations: { readOnlyHint: true },
  }, async ({ since, node, kind, limit }) => {
    const s = sinceOf(since);
    const anomalies = await withReader(s, (reader) => listAnomalies(reader, { since: s, node, kind, limit }));
    return answer({ anomalies });
  });

  server.registerTool('generate_exunit_test', {
    title: 'Generate an ExUnit test from a recorded GenServer',
    description: 'From a watched GenServer\'s recorded history (ScopeBeam.watch/1: its states, the calls, casts and messages it handled with their replies, the crash if any), an ExUnit test module that starts the GenServer in the recorded state without init/1, replays the messages in order and asserts the recorded replies and states, or the crash reason. Returns the .exs source and a file name; nothing is written.',
    inputSchema: {
      process: pidInput,
      node: filters.node,
      test_module: z.string().regex(/^[A-Z][A-Za-z0-9_]*(\.[A-Z][A-Za-z0-9_]*)*$/).optional().describe('The test module\'s name (default <Module>ReplayTest).'),
    },
    outputSchema: { test: z.looseObject({ module: z.string(), testModule: z.string(), fileName: z.string(), source: z.string(), steps: z.number(), crash: z.boolean(), skipped: z.array(z.string()) }) },
    annotations: { readOnlyHint: true },
  }, async ({ process, node, test_module }) => {
    const test = await withReader(undefined, async (reader) => {
      const ref = await resolveProcess(reader, process, { node });
      return generateExUnitTest(reader, ref.pid, { node: ref.node, ...(test_module ? { moduleName: test_module } : {}) });
    });
    return answer({ test });
  });

  server.registerTool('query_sql', {
    title: 'Query the archive with SQL',
    description: `One read-only DuckDB statement over the views spans, events and metrics (attributes are JSON: json_extract_string(attributes, '$."beam.pid"')). Sandboxed as the query command: no file access outside the archive, no writes, one statement. At most ${maxRows} rows.`,
    inputSchema: { sql: z.string().min(1).describe('One SELECT (or WITH, FROM, DESCRIBE, SUMMARIZE, EXPLAIN) statement.') },
    outputSchema: { columns: z.array(z.string()), rows: z.array(z.array(z.unknown())), truncated: z.boolean() },
    annotations: { readOnlyHint: true },
  }, async ({ sql }) => {
    // The sandbox's refusals name --unsafe, a flag of the CLI an assistant cannot pass: without it.
    // Streamed up to the cap: a SELECT * over the whole archive is never held in memory.
    const result = await queryArchive(options.archive, sql, { maxRows }).catch((error: unknown) => {
      throw error instanceof Error ? new Error(error.message.replace(/; use --unsafe\b.*$/s, '')) : error;
    });
    return answer({ columns: result.columns, rows: result.rows, truncated: result.truncated === true });
  });
  return server;
}

/** Serves on stdin/stdout until the client goes away. */
export async function serveMcp(options: McpOptions): Promise<void> {
  const server = createMcpServer(options);
  await server.connect(new StdioServerTransport());
}
