/** Page compressors for the Parquet writer: snappy is built into it, gzip is zlib's, zstd is zstd's own code (wasm). */
import { gzipSync } from 'node:zlib';
import zstd from '@bokuweb/zstd-wasm';
import type { ParquetWriter } from 'hyparquet-writer';
import type { Compression } from './config.js';

type WriterOptions = Pick<ConstructorParameters<typeof ParquetWriter>[0], 'codec' | 'compressors'>;

let zstdReady: Promise<void> | undefined;

/**
 * The writer options for a compression. zstd's wasm module is loaded once, on
 * first use; Node 20's zlib has no zstd (it arrives in 22.15).
 */
export async function compressionOptions(compression: Compression): Promise<WriterOptions> {
  switch (compression) {
    case 'none':
      return { codec: 'UNCOMPRESSED' };
    case 'snappy':
      return { codec: 'SNAPPY' };
    case 'gzip':
      return { codec: 'GZIP', compressors: { GZIP: (input) => gzipSync(input, { level: 6 }) } };
    case 'zstd':
      await (zstdReady ??= zstd.init());
      return { codec: 'ZSTD', compressors: { ZSTD: (input) => zstd.compress(input, 3) } };
  }
}
