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
import { explainCrash, listCrashes } from '../inspect/crashes.js';
import { fetchWindow, type LiveSource } from '../inspect/live.js';
import { parseTime } from '../inspect/time.js';
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

function sinceOf(text: string | undefined): bigint | undefined {
  if (text === undefined) return undefined;
  const t = parseTime(text);
  if (t === null) throw new Error(`since "${text}" is not a time: use RFC 3339 or relative (-15m, -2h, -1d)`);
  return t;
}

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

  server.registerTool('query_sql', {
    title: 'Query the archive with SQL',
    description: `One read-only DuckDB statement over the views spans, events and metrics (attributes are JSON: json_extract_string(attributes, '$."beam.pid"')). Sandboxed as the query command: no file access outside the archive, no writes, one statement. At most ${maxRows} rows.`,
    inputSchema: { sql: z.string().min(1).describe('One SELECT (or WITH, FROM, DESCRIBE, SUMMARIZE, EXPLAIN) statement.') },
    outputSchema: { columns: z.array(z.string()), rows: z.array(z.array(z.unknown())), truncated: z.boolean() },
    annotations: { readOnlyHint: true },
  }, async ({ sql }) => {
    const result = await queryArchive(options.archive, sql);
    const truncated = result.rows.length > maxRows;
    return answer({ columns: result.columns, rows: truncated ? result.rows.slice(0, maxRows) : result.rows, truncated });
  });
  return server;
}

/** Serves on stdin/stdout until the client goes away. */
export async function serveMcp(options: McpOptions): Promise<void> {
  const server = createMcpServer(options);
  await server.connect(new StdioServerTransport());
}
