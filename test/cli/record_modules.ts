/**
 * Preloaded into a child with `--import` (NODE_OPTIONS): when the process
 * exits, writes every CommonJS module it loaded — the OpenTelemetry SDK
 * packages, grpc-js and protobufjs are CommonJS, also when imported from ESM —
 * one path a line, to $SCOPE_RECORD_MODULES.
 */
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const out = process.env.SCOPE_RECORD_MODULES;
if (out) {
  const cache = createRequire(import.meta.url).cache;
  process.on('exit', () => writeFileSync(out, Object.keys(cache).join('\n') + '\n'));
}
