/**
 * The parquet exporter's worker thread: the archive writer runs here, so
 * encoding Parquet uses another core than the receivers'. Logs and counter
 * increments are forwarded to the main thread, which owns the logger and the
 * self-metrics.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parentPort, workerData } from 'node:worker_threads';
import type { Attributes, Counter, Meter } from '@opentelemetry/api';
import { ProblemReporter, type Logger, type LogFields, type LogLevel } from '../../util/logger.js';
import { ParquetArchiveExporter, type ArchiveWriterMode } from './archive.js';
import type { TableName } from '../../archive/tables.js';
import type { ParquetExporterConfig } from './config.js';
import { toWire, type FromWorker, type ToWorker } from './protocol.js';

const port = parentPort;
if (!port) throw new Error('the parquet worker runs as a worker thread');
const post = (message: FromWorker): void => port.postMessage(message);

const log = (level: LogLevel) => (message: string, fields?: LogFields): void => post({ op: 'log', level, message, fields });
const logger: Logger = { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error'), child: () => logger };

const meter: Pick<Meter, 'createCounter'> = {
  createCounter: (name: string) => ({ add: (value: number, attributes?: Attributes) => post({ op: 'count', name, value, attributes }) }) as Counter<Attributes>,
};

const problems = new ProblemReporter(logger);
/**
 * While a chunks message is taken, the rows held are kept for its answer
 * instead of posted: the proxy counts the batch's rows as on their way until
 * that answer, so the two counts change in one message.
 */
let holdBuffered = false;
let heldBuffered: Record<TableName, number> | undefined;
const { config, mode } = workerData as { config: ParquetExporterConfig; mode: ArchiveWriterMode };
const exporter = new ParquetArchiveExporter(config, {
  logger, problems, meter,
  reportStatus: (status) => post({ op: 'status', status }),
  reportBuffered: (rows) => {
    if (holdBuffered) heldBuffered = rows;
    else post({ op: 'buffered', rows });
  },
  reportCommitted: (through) => post({ op: 'committed', through }),
}, mode);

// How long encoding a row group holds this thread (its messages, timers and answers wait meanwhile).
const delay = monitorEventLoopDelay({ resolution: 10 });
delay.enable();
const reportStall = (): void => {
  post({ op: 'stall', maxMs: delay.max / 1e6 });
  delay.reset();
};
setInterval(reportStall, 1000).unref();

port.on('message', (message: ToWorker) => {
  const reply = (work: Promise<unknown>, result?: (value: unknown) => FromWorker): void => {
    work.then(
      (value) => post(result ? result(value) : { op: 'done', id: message.id }),
      (error: unknown) => post({ op: 'done', id: message.id, error: error instanceof Error ? error.message : String(error) }),
    );
  };
  switch (message.op) {
    case 'start':
      return reply(exporter.start());
    case 'export':
      return reply(exporter.export(message.batch, message.receipt), (r) => ({ op: 'done', id: message.id, result: toWire(r as Awaited<ReturnType<typeof exporter.export>>) }));
    case 'chunks': {
      holdBuffered = true;
      heldBuffered = undefined;
      // Takes the rows before it returns (no await before that), so what it held is known here.
      const work = exporter.exportChunks(message.chunks, message.invalid, message.receipt, message.ahead);
      holdBuffered = false;
      const buffered = heldBuffered;
      return reply(work, (r) => ({
        op: 'done', id: message.id, result: toWire(r as Awaited<ReturnType<typeof exporter.export>>), ...(buffered ? { buffered } : {}),
      }));
    }
    case 'track':
      return reply(exporter.trackCommits(message.queue), (through) => ({ op: 'done', id: message.id, through: through as number }));
    case 'shutdown':
      // What was suppressed since the last line is logged before the thread ends.
      return reply(exporter.shutdown().finally(() => {
        problems.flush();
        reportStall();
      }));
  }
});
