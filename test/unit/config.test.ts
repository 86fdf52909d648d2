import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { registry } from '../../src/component/registry.js';
import { loadConfig, mergeConfigs } from '../../src/config/load.js';
import { validateConfig } from '../../src/config/validate.js';
import { ScopeError } from '../../src/util/errors.js';
import type { ExporterSettings } from '../../src/component/exporter_settings.js';

/** /work/main/config, from build/test/unit (compiled) — three levels up is the project root. */
const configDir = fileURLToPath(new URL('../../../config/', import.meta.url));

const minimal = `
receivers:
  jsonl:
    path: capture.jsonl
processors:
  batch:
exporters:
  debug:
service:
  pipelines:
    p:
      receivers: [jsonl]
      processors: [batch]
      exporters: [debug]
`;

/** Runs fn, expects a ScopeError with the given code, returns it. */
function scopeError(fn: () => unknown, code: string): ScopeError {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof ScopeError, `expected a ScopeError, got ${String(caught)}`);
  assert.equal(caught.code, code);
  return caught;
}

describe('loadConfig: defaults of a valid minimal config', () => {
  const config = loadConfig({ yaml: [minimal], env: {} });

  it('fills the batch processor defaults', () => {
    assert.deepEqual(config.processors.batch, { send_batch_size: 8192, send_batch_max_size: 0, timeout: '200ms' });
  });

  it('fills the debug exporter defaults, including the shared sending queue and retry', () => {
    const debug = config.exporters.debug as unknown as { format: string; verbosity: string } & ExporterSettings;
    assert.equal(debug.format, 'text');
    assert.equal(debug.verbosity, 'basic');
    assert.equal(debug.sending_queue.queue_size, 200_000);
    assert.equal(debug.sending_queue.num_consumers, 1);
    assert.equal(debug.retry_on_failure.enabled, true);
    assert.equal(debug.retry_on_failure.initial_interval, '5s');
    assert.equal(debug.retry_on_failure.max_interval, '30s');
    assert.equal(debug.retry_on_failure.max_elapsed_time, '300s');
    assert.equal(debug.retry_on_failure.multiplier, 1.5);
  });

  it('fills the receiver defaults and keeps given values', () => {
    assert.equal(config.receivers.jsonl.path, 'capture.jsonl');
    assert.equal(config.receivers.jsonl.follow, false);
    assert.equal(config.receivers.jsonl.max_line_bytes, '1MiB');
  });

  it('fills the service defaults', () => {
    assert.equal(config.service.shutdown_timeout, '10s');
    assert.deepEqual(config.service.extensions, []);
    assert.equal(config.service.telemetry.metrics.endpoint, '127.0.0.1:8888');
    assert.equal(config.service.telemetry.metrics.level, 'normal');
    assert.equal(config.service.telemetry.logs.level, 'info');
    assert.deepEqual(config.service.pipelines.p, { receivers: ['jsonl'], processors: ['batch'], exporters: ['debug'] });
  });

  it('gives missing sections as empty maps', () => {
    assert.deepEqual(config.extensions, {});
  });

  it('defaults pipeline processors to an empty list', () => {
    const c = loadConfig({
      yaml: ['receivers: { jsonl: { path: a } }\nexporters: { debug: }\nservice: { pipelines: { p: { receivers: [jsonl], exporters: [debug] } } }'],
      env: {},
    });
    assert.deepEqual(c.service.pipelines.p.processors, []);
  });

  it('does not modify the document it validates', () => {
    const doc = { receivers: { jsonl: { path: 'a' } }, exporters: { debug: null }, service: { pipelines: { p: { receivers: ['jsonl'], exporters: ['debug'] } } } };
    const copy = structuredClone(doc);
    validateConfig(doc);
    assert.deepEqual(doc, copy);
  });
});

describe('loadConfig: every problem at once', () => {
  const broken = `
receivers:
  jsonl:
    path: capture.jsonl
processors:
  batch:
    timeout: soon
  batch/big:
    send_batch_size: 100
    send_batch_max_size: 10
  bacth: {}
  memory_limiter: {}
exporters:
  debug:
    colour: red
service:
  pipelines:
    p:
      receivers: [jsonl]
      processors: [batch, memory_limiter]
      exporters: [debug/x]
`;
  const error = scopeError(() => loadConfig({ yaml: [broken], env: {} }), 'CONFIG_INVALID');
  const problems = [...error.problems];

  const expected = [
    'processors.batch.timeout: must match duration like 200ms, 5s or 1m30s',
    'processors.batch/big.send_batch_max_size: must be >= send_batch_size (or 0 for no bound)',
    `processors.bacth: unknown processor type "bacth" (known: ${registry.types('processor').join(', ')})`,
    'processors.memory_limiter.limit_mib: is required (or give limit_percentage)',
    'service.pipelines.p.exporters[0]: exporter "debug/x" is not declared under exporters',
  ];
  for (const problem of expected) {
    it(`reports ${problem.split(':')[0]}`, () => {
      assert.ok(problems.includes(problem), `missing ${JSON.stringify(problem)} in\n${problems.join('\n')}`);
    });
  }

  it('lists the known processor types for an unknown one', () => {
    const p = problems.find((x) => x.startsWith('processors.bacth:'));
    assert.ok(p);
    for (const type of ['batch', 'filter', 'memory_limiter']) assert.ok(p.includes(type), p);
  });

  it('lists the known options for an unknown one, shared exporter options included', () => {
    const p = problems.find((x) => x.startsWith('exporters.debug.colour:'));
    assert.ok(p, problems.join('\n'));
    assert.match(p, /^exporters\.debug\.colour: unknown option \(known: .*\)$/);
    for (const option of ['path', 'format', 'verbosity', 'sending_queue', 'retry_on_failure']) assert.ok(p.includes(option), p);
  });

  it('reports nothing else and puts every problem in the message', () => {
    assert.equal(problems.length, expected.length + 1);
    for (const p of problems) assert.ok(error.message.includes(p));
  });
});

describe('validateConfig: more problems', () => {
  const cases: Array<{ name: string; yaml: string; problem: string | RegExp }> = [
    {
      name: 'service is required',
      yaml: 'receivers: { jsonl: { path: a } }',
      problem: 'service: is required',
    },
    {
      name: 'a pipeline needs receivers',
      yaml: 'exporters: { debug: }\nservice: { pipelines: { p: { exporters: [debug] } } }',
      problem: 'service.pipelines.p.receivers: is required',
    },
    {
      name: 'an undeclared receiver',
      yaml: 'exporters: { debug: }\nservice: { pipelines: { p: { receivers: [jsonl/in], exporters: [debug] } } }',
      problem: 'service.pipelines.p.receivers[0]: receiver "jsonl/in" is not declared under receivers',
    },
    {
      name: 'a component listed twice',
      yaml: 'receivers: { jsonl: { path: a } }\nexporters: { debug: }\nservice: { pipelines: { p: { receivers: [jsonl, jsonl], exporters: [debug] } } }',
      problem: 'service.pipelines.p.receivers[1]: receiver "jsonl" is listed twice',
    },
    {
      name: 'a malformed component id',
      yaml: 'receivers: { Jsonl: { path: a } }\nexporters: { debug: }\nservice: { pipelines: { p: { receivers: [Jsonl], exporters: [debug] } } }',
      problem: /^receivers\.Jsonl: component id must be "type" or "type\/name"/,
    },
    {
      name: 'a wrong option type',
      yaml: 'receivers: { jsonl: { path: a, follow: sometimes } }\nexporters: { debug: }\nservice: { pipelines: { p: { receivers: [jsonl], exporters: [debug] } } }',
      problem: 'receivers.jsonl.follow: must be true or false',
    },
    {
      name: 'an enum value',
      yaml: 'receivers: { jsonl: { path: a } }\nexporters: { debug: { format: yaml } }\nservice: { pipelines: { p: { receivers: [jsonl], exporters: [debug] } } }',
      problem: 'exporters.debug.format: must be one of text, json',
    },
    {
      name: 'a bad endpoint',
      yaml: 'receivers: { jsonl: { path: a } }\nexporters: { debug: }\nservice: { pipelines: { p: { receivers: [jsonl], exporters: [debug] } }, telemetry: { metrics: { endpoint: localhost } } }',
      problem: 'service.telemetry.metrics.endpoint: must be host:port like 127.0.0.1:4317',
    },
    {
      name: 'a required option of a component',
      yaml: 'receivers: { jsonl: {} }\nexporters: { debug: }\nservice: { pipelines: { p: { receivers: [jsonl], exporters: [debug] } } }',
      problem: 'receivers.jsonl.path: is required',
    },
    {
      name: 'a bad size',
      yaml: 'receivers: { jsonl: { path: a, max_line_bytes: lots } }\nexporters: { debug: }\nservice: { pipelines: { p: { receivers: [jsonl], exporters: [debug] } } }',
      problem: 'receivers.jsonl.max_line_bytes: must be a size like 64MiB, 512KB or a number of bytes',
    },
    {
      name: 'an env problem, reported with validation problems',
      yaml: 'receivers: { jsonl: { path: "${env:NOPE}" } }\nexporters: { debug: { format: yaml } }\nservice: { pipelines: { p: { receivers: [jsonl], exporters: [debug] } } }',
      problem: /^receivers\.jsonl\.path: environment variable NOPE is not set/,
    },
  ];
  for (const { name, yaml, problem } of cases) {
    it(`reports ${name}`, () => {
      const error = scopeError(() => loadConfig({ yaml: [yaml], env: {} }), 'CONFIG_INVALID');
      if (typeof problem === 'string') assert.ok(error.problems.includes(problem), error.problems.join('\n'));
      else assert.ok(error.problems.some((p) => problem.test(p)), error.problems.join('\n'));
    });
  }

  it('rejects a document that is not a map', () => {
    scopeError(() => validateConfig(['a']), 'CONFIG_INVALID');
    scopeError(() => validateConfig('text'), 'CONFIG_INVALID');
  });
});

describe('loadConfig: memory_limiter cross-field rules', () => {
  const withLimiter = (body: string): string =>
    `receivers: { jsonl: { path: a } }\nprocessors: { memory_limiter: ${body} }\nexporters: { debug: }\n` +
    'service: { pipelines: { p: { receivers: [jsonl], processors: [memory_limiter], exporters: [debug] } } }';

  it('accepts limit_mib alone', () => {
    const c = loadConfig({ yaml: [withLimiter('{ limit_mib: 256 }')], env: {} });
    assert.equal(c.processors.memory_limiter.limit_mib, 256);
    assert.equal(c.processors.memory_limiter.check_interval, '1s');
  });

  const bad: Array<[string, string]> = [
    ['{}', 'processors.memory_limiter.limit_mib: is required (or give limit_percentage)'],
    ['{ limit_mib: 100, limit_percentage: 50 }', 'processors.memory_limiter.limit_percentage: give either limit_mib or limit_percentage, not both'],
    ['{ limit_mib: 100, spike_limit_mib: 100 }', 'processors.memory_limiter.spike_limit_mib: must be < limit_mib'],
  ];
  for (const [body, problem] of bad) {
    it(`rejects ${body}`, () => {
      const error = scopeError(() => loadConfig({ yaml: [withLimiter(body)], env: {} }), 'CONFIG_INVALID');
      assert.deepEqual([...error.problems], [problem]);
    });
  }
});

describe('loadConfig: merging several YAML texts', () => {
  const override = `
processors:
  batch:
    timeout: 1s
exporters:
  debug:
    format: json
  debug/second:
service:
  pipelines:
    p:
      exporters: [debug/second]
`;
  const config = loadConfig({ yaml: [minimal, override], env: {} });

  it('lets later texts override earlier values', () => {
    assert.equal(config.processors.batch.timeout, '1s');
    assert.equal(config.exporters.debug.format, 'json');
  });

  it('merges maps key by key', () => {
    assert.equal(config.receivers.jsonl.path, 'capture.jsonl');
    assert.deepEqual(Object.keys(config.exporters).sort(), ['debug', 'debug/second']);
    assert.deepEqual(config.service.pipelines.p.receivers, ['jsonl']);
    assert.deepEqual(config.service.pipelines.p.processors, ['batch']);
  });

  it('replaces lists', () => {
    assert.deepEqual(config.service.pipelines.p.exporters, ['debug/second']);
  });

  it('mergeConfigs: maps merge, lists and scalars replace, undefined keeps', () => {
    assert.deepEqual(mergeConfigs({ a: { b: 1, c: [1, 2] }, d: 'x' }, { a: { c: [3] }, e: true }), { a: { b: 1, c: [3] }, d: 'x', e: true });
    assert.deepEqual(mergeConfigs({ a: 1 }, undefined), { a: 1 });
    assert.equal(mergeConfigs({ a: 1 }, 'scalar'), 'scalar');
  });

  it('expands env references after merging', () => {
    const c = loadConfig({ yaml: [minimal, 'receivers: { jsonl: { path: "${env:CAPTURE}", max_batch_items: "${env:ITEMS}" } }'], env: { CAPTURE: '/tmp/c.jsonl', ITEMS: '16' } });
    assert.equal(c.receivers.jsonl.path, '/tmp/c.jsonl');
    assert.equal(c.receivers.jsonl.max_batch_items, 16);
  });
});

describe('loadConfig: YAML errors', () => {
  const texts: Array<[string, string]> = [
    ['an unclosed flow sequence', 'receivers: [jsonl\nservice: {}'],
    ['a duplicate key', 'service: {}\nservice: {}'],
    ['bad indentation', 'receivers:\n  jsonl:\n    path: a\n   follow: true'],
  ];
  for (const [name, text] of texts) {
    it(`gives CONFIG_PARSE for ${name}, naming the origin`, () => {
      const error = scopeError(() => loadConfig({ yaml: [minimal, text], env: {} }), 'CONFIG_PARSE');
      assert.ok(error.problems.length > 0);
      assert.ok(error.problems.every((p) => p.startsWith('yaml[1]: ')), error.problems.join('\n'));
    });
  }

  it('gives CONFIG_READ for a missing file', () => {
    const error = scopeError(() => loadConfig({ files: ['/nonexistent/scope.yaml'] }), 'CONFIG_READ');
    assert.match(error.message, /\/nonexistent\/scope\.yaml/);
  });
});

describe('loadConfig: type/name ids', () => {
  const text = `
receivers:
  jsonl/a: { path: a.jsonl }
  jsonl/b-2.x: { path: b.jsonl, follow: true }
processors:
  batch/fast: { timeout: 10ms }
exporters:
  debug/json: { format: json }
  debug: {}
service:
  pipelines:
    one:
      receivers: [jsonl/a, jsonl/b-2.x]
      processors: [batch/fast]
      exporters: [debug/json, debug]
`;
  const config = loadConfig({ yaml: [text], env: {} });

  it('validates each instance against its type and keeps the ids', () => {
    assert.deepEqual(Object.keys(config.receivers).sort(), ['jsonl/a', 'jsonl/b-2.x']);
    assert.equal(config.receivers['jsonl/b-2.x'].follow, true);
    assert.equal(config.receivers['jsonl/a'].follow, false);
    assert.deepEqual(config.processors['batch/fast'], { timeout: '10ms', send_batch_size: 8192, send_batch_max_size: 0 });
    assert.equal(config.exporters['debug/json'].format, 'json');
    assert.equal(config.exporters.debug.format, 'text');
  });

  it('reports the type of an unknown type/name id', () => {
    const error = scopeError(
      () => loadConfig({ yaml: ['receivers: { kafka/in: {} }\nexporters: { debug: }\nservice: { pipelines: { p: { receivers: [kafka/in], exporters: [debug] } } }'], env: {} }),
      'CONFIG_INVALID',
    );
    assert.ok(error.problems.some((p) => p.startsWith('receivers.kafka/in: unknown receiver type "kafka" (known: ')), error.problems.join('\n'));
  });
});

describe('the shipped config files', () => {
  const base = `${configDir}pipeline.yaml`;
  const env = {};

  it('pipeline.yaml validates on its own', () => {
    const c = loadConfig({ files: [base], env });
    assert.deepEqual(c.service.pipelines.default, { receivers: ['jsonl/demo', 'beam_trace_port', 'beam_telemetry'], processors: ['memory_limiter', 'correlation', 'privacy', 'batch'], exporters: ['debug', 'parquet'] });
    assert.equal(c.exporters.parquet.path, './data/archive');
    assert.equal(c.receivers['jsonl/demo'].path, 'examples/demo-capture.jsonl');
    assert.equal(c.receivers.beam_trace_port.endpoint, '127.0.0.1:4711');
    assert.equal(c.receivers.beam_telemetry.endpoint, '127.0.0.1:4712');
    assert.equal(c.service.telemetry.metrics.endpoint, '127.0.0.1:8888');
    assert.equal(c.exporters.debug.verbosity, 'basic');
  });

  it('pipeline.yaml takes its env overrides', () => {
    const c = loadConfig({ files: [base], env: { SCOPE_CAPTURE: '/data/x.jsonl', SCOPE_METRICS_ENDPOINT: '0.0.0.0:9999', SCOPE_ARCHIVE: '/var/lib/scope', SCOPE_TELEMETRY_ENDPOINT: '10.0.0.1:5000' } });
    assert.equal(c.receivers['jsonl/demo'].path, '/data/x.jsonl');
    assert.equal(c.receivers.beam_telemetry.endpoint, '10.0.0.1:5000');
    assert.equal(c.exporters.parquet.path, '/var/lib/scope');
    assert.equal(c.service.telemetry.metrics.endpoint, '0.0.0.0:9999');
  });

  it('pipeline.yaml + development.yaml validates', () => {
    const c = loadConfig({ files: [base, `${configDir}development.yaml`], env });
    assert.equal(c.exporters.debug.verbosity, 'detailed');
    assert.equal(c.service.telemetry.logs.level, 'debug');
    assert.deepEqual(c.service.pipelines.default.receivers, ['jsonl/demo', 'beam_trace_port', 'beam_telemetry']);
    assert.deepEqual(c.service.pipelines.default.processors, ['memory_limiter', 'correlation', 'privacy', 'batch']);
    assert.equal((c.processors.privacy as { action: string }).action, 'mask');
  });

  it('pipeline.yaml + production.yaml validates', () => {
    const c = loadConfig({ files: [base, `${configDir}production.yaml`], env });
    assert.deepEqual(c.service.pipelines.default, {
      receivers: ['jsonl/demo', 'otlp', 'beam_trace_port', 'beam_telemetry'],
      processors: ['memory_limiter', 'filter/runtime_noise', 'correlation', 'anomaly', 'privacy', 'sampling', 'batch'],
      exporters: ['debug'],
    });
    // The archive: every item, through a disk queue, with no processor that holds items.
    assert.deepEqual(c.service.pipelines.archive, {
      receivers: ['jsonl/demo', 'otlp', 'beam_trace_port', 'beam_telemetry'],
      processors: ['memory_limiter', 'filter/runtime_noise', 'correlation', 'privacy'],
      exporters: ['parquet'],
    });
    assert.equal((c.exporters.parquet.sending_queue as { storage: string }).storage, 'disk');
    assert.deepEqual(c.exporters.parquet.retention, { spans: '7d', events: '7d', metrics: '90d', check_interval: '5m' });
    assert.deepEqual(c.exporters.parquet.partition_by, ['beam_node']);
    assert.equal((c.processors.privacy as { action: string }).action, 'hash');
    assert.equal((c.processors.sampling as { sampling_percentage: number }).sampling_percentage, 10);
    assert.equal(c.processors.batch.send_batch_max_size, 16384);
    assert.equal(c.processors.memory_limiter.spike_limit_mib, 256);
    assert.equal((c.exporters.debug as { sending_queue: { queue_size: number } }).sending_queue.queue_size, 500_000);
    assert.equal(c.service.shutdown_timeout, '30s');
    assert.equal(c.service.telemetry.logs.level, 'warn');
  });

  it('files and yaml texts merge, texts last', () => {
    const c = loadConfig({ files: [base], yaml: ['exporters: { debug: { format: json } }'], env });
    assert.equal(c.exporters.debug.format, 'json');
    assert.equal(c.exporters.debug.verbosity, 'basic');
  });
});
