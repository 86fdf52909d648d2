/**
 * `scope-pipeline query` runs one read-only statement over the archive and
 * nothing else, through the real command, over an archive the parquet
 * exporter wrote in a real daemon: three runs on one archive with
 * partition_by [], [beam_node] and [service_name], so the tables hold files
 * in three partition layouts at once.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { CLI, ROOT, promValue, startDaemon, until } from '../helpers.js';

const CAPTURE = join(ROOT, 'examples/demo-capture.jsonl');
/** What the demo capture holds. */
const PER_RUN = { events: 18, spans: 3, metrics: 2 };
const LAYOUTS = [[], ['beam_node'], ['service_name']];

function query(archive: string, args: string[]) {
  const r = spawnSync(process.execPath, [CLI, 'query', '--archive', archive, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The same for many queries, a few at a time (each is a process that loads DuckDB). */
async function queries(archive: string, list: string[][]): Promise<Array<{ code: number | null; stdout: string; stderr: string }>> {
  const results: Array<{ code: number | null; stdout: string; stderr: string }> = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < list.length) {
      const i = next++;
      results[i] = await new Promise((done) => {
        execFile(process.execPath, [CLI, 'query', '--archive', archive, ...list[i]], { cwd: ROOT, encoding: 'utf8', timeout: 30_000 }, (error, stdout, stderr) => {
          done({ code: error ? (typeof error.code === 'number' ? error.code : null) : 0, stdout, stderr });
        });
      });
    }
  };
  await Promise.all([worker(), worker()]);
  return results;
}

function files(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name));
      else out.push(`${relative(dir, join(d, e.name))} ${statSync(join(d, e.name)).size}`);
    }
  };
  walk(dir);
  return out.sort();
}

async function archiveOnce(archive: string, work: string, partitionBy: string[]): Promise<void> {
  const config = join(work, `p-${partitionBy.join('-') || 'flat'}.yaml`);
  writeFileSync(config, `
receivers: { jsonl: { path: ${CAPTURE} } }
exporters: { parquet: { path: ${archive}, partition_by: [${partitionBy.join(", ")}], retention: { spans: 0, events: 0, metrics: 0 } } }
service:
  pipelines: { p: { receivers: [jsonl], exporters: [parquet] } }
  telemetry: { metrics: { endpoint: 127.0.0.1:0 } }
`);
  const daemon = startDaemon(['--config', config]);
  try {
    const metrics = await daemon.metricsUrl();
    const total = PER_RUN.events + PER_RUN.spans + PER_RUN.metrics;
    await until(async () => promValue(await (await fetch(metrics)).text(), 'scope_receiver_accepted_items_total') >= total, 10_000, 'the capture read');
    daemon.child.kill('SIGTERM');
    assert.equal((await daemon.exited()).code, 0, daemon.stderr());
  } finally {
    daemon.child.kill('SIGKILL');
  }
}

describe('query sandbox', () => {
  const work = mkdtempSync(join(tmpdir(), 'scope-sandbox-'));
  const archive = join(work, 'archive');
  /** Outside the archive: what a query must not read or write. */
  const outside = join(work, 'outside');
  const secretFile = join(outside, 'secret.txt');
  const csvFile = join(outside, 'people.csv');

  before(async () => {
    for (const layout of LAYOUTS) await archiveOnce(archive, work, layout);
    mkdirSync(outside);
    writeFileSync(secretFile, 'the-secret-outside-the-archive\n');
    writeFileSync(csvFile, 'name,age\nada,36\ngrace,45\n');
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  it('the archive really holds three partition layouts per table', () => {
    for (const table of ['spans', 'events', 'metrics']) {
      const dirs = new Set(files(join(archive, `table=${table}`)).map((f) => f.split(' ')[0].split('/').slice(0, -1).map((p) => p.split('=')[0]).join('/')));
      assert.deepEqual([...dirs].sort(), ['date/hour', 'date/hour/beam_node', 'date/hour/service_name'], table);
    }
  });

  it('runs queries over spans, events and metrics across every layout, with the partition keys as columns', () => {
    const counts = query(archive, ['--format', 'json', 'select (select count(*) from spans) s, (select count(*) from events) e, (select count(*) from metrics) m']);
    assert.equal(counts.code, 0, counts.stderr);
    assert.deepEqual(JSON.parse(counts.stdout), [{ s: String(3 * PER_RUN.spans), e: String(3 * PER_RUN.events), m: String(3 * PER_RUN.metrics) }]);

    const spans = query(archive, ['--format', 'csv', 'select name, count(*) as n, count(distinct date) as dates, min(hour) as hour from spans group by 1 order by 1']);
    assert.equal(spans.code, 0, spans.stderr);
    assert.equal(spans.stdout, 'name,n,dates,hour\nDELETE /cart/items/:sku,3,1,16\nPOST /cart/items,3,1,16\nShop.Cart.handle_call/3,3,1,16\n');

    const exits = query(archive, ['--format', 'json', "select pid, count(*) as n from events where type = 'process.exit' group by 1"]);
    assert.equal(exits.code, 0, exits.stderr);
    assert.deepEqual(JSON.parse(exits.stdout), [{ pid: '<0.95.0>', n: '3' }]);

    const metrics = query(archive, ['--format', 'csv', 'with m as (select name, value from metrics) select name, sum(value) as total from m group by 1 order by 1']);
    assert.equal(metrics.code, 0, metrics.stderr);
    assert.equal(metrics.stdout, 'name,total\nbeam.process.message_queue_len,36\nbeam.run_queue,9\n');

    // FROM-first, SUMMARIZE, DESCRIBE, SHOW, VALUES and EXPLAIN [ANALYZE] of a query are read-only too.
    const from = query(archive, ['--format', 'csv', 'from metrics select count(*) as n']);
    assert.equal(from.stdout, `n\n${3 * PER_RUN.metrics}\n`, from.stderr);
    const summarize = query(archive, ['--format', 'json', 'select column_name, count from (summarize spans) where column_name = \'name\'']);
    assert.deepEqual(JSON.parse(summarize.stdout), [{ column_name: 'name', count: String(3 * PER_RUN.spans) }], summarize.stderr);
    const describe = query(archive, ['--format', 'csv', "select column_name from (describe events) where column_name in ('id', 'beam_node', 'service_name', 'hour') order by 1"]);
    assert.equal(describe.stdout, 'column_name\nbeam_node\nhour\nid\nservice_name\n', describe.stderr);
    const show = query(archive, ['--format', 'csv', 'show tables']);
    assert.equal(show.stdout, 'name\nevents\nmetrics\nspans\n', show.stderr);
    const values = query(archive, ['--format', 'csv', 'values (1, 2)']);
    assert.equal(values.code, 0, values.stderr);
    const explain = query(archive, ['--format', 'json', 'explain select count(*) from spans']);
    assert.equal(explain.code, 0, explain.stderr);
    assert.match(explain.stdout, /READ_PARQUET/);
    const analyze = query(archive, ['--format', 'json', 'EXPLAIN ANALYZE select count(*) from events']);
    assert.equal(analyze.code, 0, analyze.stderr);
    assert.match(analyze.stdout, /analyzed_plan/);
  });

  const NOT_READ_ONLY = /^scope-pipeline: query: only one read-only statement is allowed \(found (.+?); allowed: SELECT, WITH, FROM, VALUES, SHOW, DESCRIBE, SUMMARIZE, and EXPLAIN \[ANALYZE\] of one of those\); use --unsafe\n$/;

  it('refuses file access outside the archive, naming the call', async () => {
    const before = files(archive);
    const cases: Array<[string, string]> = [
      ["select * from read_csv('/etc/passwd')", "read_csv('/etc/passwd')"],
      [`select * from spans, read_text('${secretFile}')`, `read_text('${secretFile}')`],
      [`select count(*) from read_blob('${secretFile}')`, `read_blob('${secretFile}')`],
      [`select * from read_csv('${csvFile}')`, `read_csv('${csvFile}')`],
      // Relative to the archive, out of it.
      [`select * from read_text('${archive}/../outside/secret.txt')`, `read_text('${archive}/../outside/secret.txt')`],
      ["select * from glob('/etc/*')", "glob('/etc/*')"],
      ["select * from read_parquet('https://example.com/x.parquet')", "read_parquet('https://example.com/x.parquet')"],
    ];
    const results = await queries(archive, cases.map(([sql]) => [sql]));
    for (const [i, [sql, call]] of cases.entries()) {
      const r = results[i];
      assert.equal(r.code, 1, `${sql}\n${r.stdout}`);
      assert.equal(r.stderr, `scope-pipeline: query: file access outside the archive is disabled (${call}); use --unsafe\n`, sql);
      assert.equal(r.stdout, '');
    }
    assert.deepEqual(files(archive), before, 'the archive is unchanged');
  });

  it('refuses every statement that is not one query, and runs none of it', async () => {
    const before = files(archive);
    const target = (name: string) => join(outside, name);
    const cases: Array<[string, string, string[]]> = [
      [`COPY (select 1) TO '${target('x.csv')}'`, 'COPY', [target('x.csv')]],
      // Inside the archive: the sandbox's allowed directory, so only the statement check stops these.
      [`COPY (select * from spans) TO '${archive}/table=spans/copy.parquet' (FORMAT parquet)`, 'COPY', [`${archive}/table=spans/copy.parquet`]],
      [`EXPLAIN ANALYZE COPY (select 1) TO '${archive}/y.csv'`, 'EXPLAIN COPY', [`${archive}/y.csv`]],
      [`ATTACH '${target('x.db')}'`, 'ATTACH', [target('x.db')]],
      [`ATTACH '${archive}/x.db' AS x`, 'ATTACH', [`${archive}/x.db`]],
      [`EXPORT DATABASE '${target('export')}'`, 'EXPORT', [target('export')]],
      ['INSTALL httpfs', 'INSTALL', []],
      ['LOAD httpfs', 'LOAD', []],
      ['SET enable_external_access = true', 'SET', []],
      ['RESET lock_configuration', 'RESET', []],
      ['PRAGMA version', 'PRAGMA', []],
      // Its PRAGMA handler runs when DuckDB splits the text (in the sandbox, so it cannot read /tmp).
      ["PRAGMA import_database('/tmp')", 'a statement that is not a query', []],
      ['CALL pragma_version()', 'CALL', []],
      ['CREATE TABLE t AS SELECT * FROM spans', 'CREATE', []],
      ['CREATE OR REPLACE VIEW spans AS SELECT 1', 'CREATE', []],
      ['DROP VIEW spans', 'DROP', []],
      ['CHECKPOINT', 'CHECKPOINT', []],
    ];
    const results = await queries(archive, cases.map(([sql]) => [sql]));
    for (const [i, [sql, found, written]] of cases.entries()) {
      const r = results[i];
      assert.equal(r.code, 1, `${sql}\n${r.stdout}`);
      assert.equal(NOT_READ_ONLY.exec(r.stderr)?.[1], found, `${sql}: ${r.stderr}`);
      assert.equal(r.stdout, '');
      for (const file of written) assert.equal(existsSync(file), false, `${file} written by ${sql}`);
    }

    const several = ['select 1; select 2', `select 1; COPY (select 1) TO '${target('two.csv')}'`, `COPY (select 1) TO '${target('first.csv')}'; select 1`];
    for (const [i, r] of (await queries(archive, several.map((sql) => [sql]))).entries()) {
      const sql = several[i];
      assert.equal(r.code, 1, sql);
      assert.equal(r.stderr, 'scope-pipeline: query: only one read-only statement is allowed (found 2)\n', sql);
    }
    assert.equal(existsSync(target('two.csv')) || existsSync(target('first.csv')), false);

    // DuckDB's query() table function takes SELECTs only, so a statement cannot hide inside one.
    const hidden = query(archive, [`select * from query('COPY (select 1) TO ''${archive}/q.csv''')`]);
    assert.equal(hidden.code, 1);
    assert.match(hidden.stderr, /Expected a single SELECT statement/);
    assert.equal(existsSync(`${archive}/q.csv`), false);

    const empty = query(archive, ['  -- nothing\n']);
    assert.equal(empty.code, 1);
    assert.equal(empty.stderr, 'scope-pipeline: query: no SQL statement given\n');

    assert.deepEqual(readdirSync(outside).sort(), ['people.csv', 'secret.txt'], 'nothing written outside');
    assert.deepEqual(files(archive), before, 'nothing written inside the archive');
  });

  it('--unsafe lifts the sandbox, with a warning', () => {
    const read = query(archive, ['--unsafe', '--format', 'csv', `select name, age from read_csv('${csvFile}') order by age`]);
    assert.equal(read.code, 0, read.stderr);
    assert.equal(read.stdout, 'name,age\nada,36\ngrace,45\n');
    assert.match(read.stderr, /^scope-pipeline: warning: query --unsafe: no sandbox; the SQL can read and write any file/);
    // The statement the sandbox refused above does write here: the check that it did not is a real one.
    const out = join(outside, 'unsafe.csv');
    const copy = query(archive, ['--unsafe', `COPY (select name from spans order by 1) TO '${out}'`]);
    assert.equal(copy.code, 0, copy.stderr);
    assert.equal(existsSync(out), true);
    rmSync(out);
    const passwd = query(archive, ['--unsafe', '--format', 'json', "select count(*) > 0 as readable from read_csv('/etc/passwd', sep = ':', header = false)"]);
    assert.equal(passwd.code, 0, passwd.stderr);
    assert.deepEqual(JSON.parse(passwd.stdout), [{ readable: true }]);
  });

  it('--unsafe and --show-secrets belong to their commands', () => {
    const r = spawnSync(process.execPath, [CLI, 'validate', '--unsafe', '--config', 'config/pipeline.yaml'], { cwd: ROOT, encoding: 'utf8' });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /--unsafe is an option of query/);
    const q = query(archive, ['--show-secrets', 'select 1']);
    assert.equal(q.code, 1);
    assert.match(q.stderr, /--show-secrets is an option of print-config/);
  });
});
