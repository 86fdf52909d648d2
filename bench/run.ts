/** `npm run bench [-- name...]`: runs the benchmarks, prints their tables, writes bench/results/<name>.json. */
import * as anomaly from './anomaly.js';
import * as diskQueue from './disk-queue.js';
import * as etfDecode from './etf-decode.js';
import * as otlpDecode from './otlp-decode.js';
import * as memoryFlood from './memory-flood.js';
import * as otlpIngest from './otlp-ingest.js';
import * as parquetWrite from './parquet-write.js';
import * as processors from './processors.js';
import * as tracePort from './trace-port.js';

const benchmarks: Record<string, { run(): Promise<string> }> = {
  'etf-decode': etfDecode,
  'otlp-decode': otlpDecode,
  'otlp-ingest': otlpIngest,
  'parquet-write': parquetWrite,
  processors,
  'trace-port': tracePort,
  'memory-flood': memoryFlood,
  anomaly,
  'disk-queue': diskQueue,
};

const wanted = process.argv.slice(2);
const unknown = wanted.filter((n) => !(n in benchmarks));
if (unknown.length > 0) {
  process.stderr.write(`unknown benchmark ${unknown.join(', ')} (known: ${Object.keys(benchmarks).join(', ')})\n`);
  process.exit(2);
}
for (const name of wanted.length > 0 ? wanted : Object.keys(benchmarks)) {
  process.stdout.write(`${await benchmarks[name].run()}\n\n`);
}
