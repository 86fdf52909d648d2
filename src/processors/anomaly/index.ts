import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { map } from 'rxjs';
import { defineProcessor } from '../../component/types.js';
import { parseDuration } from '../../config/units.js';
import { AnomalyScorer } from './anomaly.js';
import { anomalyConfigSchema, type AnomalyConfig } from './config.js';

const ns = (duration: string): bigint => BigInt(parseDuration(duration)) * 1_000_000n;

export const anomalyProcessor = defineProcessor<AnomalyConfig>({
  type: 'anomaly',
  kind: 'processor',
  description: 'Scores span latency, error/crash bursts, message and spawn storms, mailbox and memory growth against learned baselines; anomaly.detected events and scope.anomaly.* on spans',
  stability: 'alpha',
  // Adds scope.anomaly.* to spans.
  mutatesData: true,
  configSchema: anomalyConfigSchema,
  create: (config, ctx) => {
    const detections = ctx.meter.createCounter('scope_anomaly_detections', { unit: '{detection}', description: 'Anomalies detected, by kind (before the per-key event rate limit).' });
    const evictions = ctx.meter.createCounter('scope_anomaly_evictions', { unit: '{key}', description: 'Keys evicted (least recently used) to stay within max_keys, by kind.' });
    const scorer = new AnomalyScorer(config, {
      component: ctx.id,
      bucketNs: (kind) => ns(config[kind].bucket),
      windowNs: ns(config.latency.window),
      eventEveryMs: parseDuration(config.event_every),
      onDetection: (kind) => detections.add(1, { processor: ctx.id, kind }),
      onEvict: (kind) => evictions.add(1, { processor: ctx.id, kind }),
    });
    const path = config.persist_path;
    return {
      operator: map((batch) => scorer.process(batch, Date.now())),
      start: async () => {
        if (!path || !existsSync(path)) return;
        try {
          const restored = scorer.load(readFileSync(path, 'utf8'));
          ctx.logger.info('anomaly baselines restored', { path, keys: restored });
        } catch (error) {
          ctx.logger.warn('anomaly baselines not restored; learning from zero', { path, error: (error as Error).message });
        }
      },
      shutdown: async () => {
        if (!path) return;
        try {
          mkdirSync(dirname(path), { recursive: true });
          writeFileSync(`${path}.tmp`, scorer.save());
          renameSync(`${path}.tmp`, path);
        } catch (error) {
          ctx.logger.warn('anomaly baselines not saved', { path, error: (error as Error).message });
        }
      },
    };
  },
});
