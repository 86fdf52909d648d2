/**
 * The parquet exporter's worker thread: the archive writer runs here, so
 * encoding Parquet uses another core than the receivers'. Logs and counter
 * increments are forwarded to the main thread, which owns the logger and the
 * self-metrics.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { Attributes, Counter, Meter } from '@opentelemetry/api';
import { LoopLag } from '../../util/loop_lag.js';
import { ProblemReporter, type Logger, type LogFields, type LogLevel } from '../../util/logger.js';
import { ParquetArchiveExporter, type ArchiveWriterMode } from './archive.js';
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
 * The id of the last chunks message being taken: every report of the rows
 * held says it, so the proxy stops counting that batch as on its way in the
 * same message that first counts it as held (its answer may come later,
 * when the writer has room).
 */
let taking = 0;
const { config, mode } = workerData as { config: ParquetExporterConfig; mode: ArchiveWriterMode };
const exporter = new ParquetArchiveExporter(config, {
  logger, problems, meter,
  reportStatus: (status) => post({ op: 'status', status }),
  reportBuffered: (rows) => post({ op: 'buffered', rows, taken: taking }),
  reportCommitted: (through) => post({ op: 'committed', through }),
}, mode);

// How long encoding holds this thread (its messages, timers and answers wait meanwhile).
const lag = new LoopLag(10);
const reportStall = (): void => {
  post({ op: 'stall', maxMs: lag.maxMs() });
  lag.reset();
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
      // The lag counts from here: starting (the encoder's warm-up) holds the thread before it takes any batch.
      return reply(exporter.start().then(() => lag.reset()));
    case 'export':
      return reply(exporter.export(message.batch, message.receipt), (r) => ({ op: 'done', id: message.id, result: toWire(r as Awaited<ReturnType<typeof exporter.export>>) }));
    case 'chunks':
      taking = message.id;
      return reply(exporter.exportChunks(message.chunks, message.invalid, message.receipt, message.ahead), (r) => ({ op: 'done', id: message.id, result: toWire(r as Awaited<ReturnType<typeof exporter.export>>) }));
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
