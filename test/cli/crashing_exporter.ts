/**
 * Test-only, never part of the package's surface: preloaded into a real
 * daemon with NODE_OPTIONS=--import=<this file>, it registers an exporter type
 * `crashing` through the public registerComponent(), as a program embedding
 * the library would. On its first batch it fails the way a component bug does,
 * outside any call the pipeline makes and could catch:
 *
 * - `throw`: throws from a setImmediate callback (an uncaught exception here);
 * - `builtin`: the same, but the throw happens inside a built-in component's
 *   code (the debug exporter's renderer given no batch);
 * - `reject`: rejects a promise nobody awaits (an unhandled rejection).
 *
 * Importing it does nothing else, so the test runner may load it on its own.
 */
import { defineExporter, registerComponent } from '../../src/index.js';
import { renderBatch } from '../../src/exporters/debug/render.js';
import type { Batch } from '../../src/index.js';

type Mode = 'throw' | 'builtin' | 'reject';

registerComponent(defineExporter<{ mode: Mode }>({
  type: 'crashing',
  kind: 'exporter',
  description: 'test only: fails outside the pipeline\'s calls on its first batch',
  configSchema: {
    type: 'object',
    additionalProperties: false,
    properties: { mode: { enum: ['throw', 'builtin', 'reject'], default: 'throw', description: 'How it fails.' } },
  },
  create: (config) => {
    let failed = false;
    return {
      export: async () => {
        if (!failed) {
          failed = true;
          if (config.mode === 'throw') setImmediate(() => { throw new Error('crashing exporter: thrown outside any call'); });
          else if (config.mode === 'builtin') setImmediate(() => renderBatch(null as unknown as Batch, 'text', 'normal'));
          else void Promise.reject(new Error('crashing exporter: a promise nobody awaited'));
        }
        return { ok: true };
      },
      shutdown: async () => {},
    };
  },
}));
