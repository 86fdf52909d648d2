/** Real `erl` nodes for the BEAM tests. No erl means a failing test, never a skipped one. */
import { execFileSync, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createPipeline, silentLogger, type Pipeline } from '../../src/index.js';
import { processScratchDir, until } from '../helpers.js';

export const BEAM_TEST_SOURCES = fileURLToPath(new URL('../../../test/beam/', import.meta.url));

/** Compiles Erlang modules from test/beam into a fresh directory and returns it. */
export function compileErlang(...modules: string[]): string {
  const out = processScratchDir('scope-erl-');
  execFileSync('erlc', ['-o', out, ...modules.map((m) => join(BEAM_TEST_SOURCES, `${m}.erl`))], { stdio: 'pipe' });
  return out;
}

export { freePort } from '../helpers.js';

export interface ErlNode {
  child: ChildProcessWithoutNullStreams;
  lines: string[];
  /** Waits for a stdout line starting with `prefix` and returns the rest of it. */
  line(prefix: string, timeoutMs?: number): Promise<string>;
  send(text: string): void;
  stop(): Promise<void>;
}

export function startErl(codePath: string, module: string, fun: string, args: string[]): ErlNode {
  const child = spawn('erl', ['-noshell', '-pa', codePath, '-run', module, fun, ...args], { stdio: 'pipe' });
  const lines: string[] = [];
  let partial = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => {
    const text = partial + d.toString();
    const parts = text.split('\n');
    partial = parts.pop() ?? '';
    lines.push(...parts);
  });
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  return {
    child,
    lines,
    async line(prefix, timeoutMs = 15_000) {
      let found: string | undefined;
      await until(() => {
        found = lines.find((l) => l.startsWith(prefix));
        if (found === undefined && child.exitCode !== null) throw new Error(`erl exited: ${lines.join('\n')}\n${stderr}`);
        return found !== undefined;
      }, timeoutMs, `erl to print "${prefix}" (stdout so far: ${lines.join(' | ')}; stderr: ${stderr})`);
      return (found as string).slice(prefix.length).trim();
    },
    send(text) {
      child.stdin.write(text);
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

/**
 * A started pipeline from a beam_trace_port receiver (`receiver`: options
 * beside the endpoint) to one exporter, connected to the node's trace port.
 */
export async function tracePortPipeline(port: number, receiver: Record<string, unknown>, exporter: string, exporterConfig: Record<string, unknown>): Promise<Pipeline> {
  const pipeline = createPipeline({
    receivers: { beam_trace_port: { endpoint: `127.0.0.1:${port}`, ...receiver } },
    exporters: { [exporter]: exporterConfig },
    service: { pipelines: { p: { receivers: ['beam_trace_port'], exporters: [exporter] } }, telemetry: { metrics: { level: 'none' } } },
  }, { logger: silentLogger });
  await pipeline.start();
  await until(async () => (await pipeline.metrics.sum('scope_beam_trace_port_connects')) > 0, 10_000, 'connect');
  return pipeline;
}
