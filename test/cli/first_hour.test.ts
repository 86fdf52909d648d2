/**
 * What a new user trips on in the first hour (issue 19 items 7 and 8), held
 * by tests: the README stands on its own (no link leaves the repository),
 * names every built-in component and every environment variable the bundled
 * configs read, config/jaeger.yaml sends BEAM spans (correlation) and
 * validates, a port in use names the option that moves it, and the README's
 * embedding example runs as written from the packed package and prints what
 * it says.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { registry } from '../../src/index.js';
import { CLI, ROOT } from '../helpers.js';
import { installPacked, recipe } from '../readme_recipes.js';

const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');

describe('the first hour', () => {
  let work = '';
  before(() => {
    work = mkdtempSync(join(tmpdir(), 'scope-first-hour-'));
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  it('every link in the READMEs points inside the repository, at something that exists', () => {
    const readmes = ['README.md', 'beam-receiver/README.md', ...['receivers', 'processors', 'exporters', 'extensions'].flatMap((kind) =>
      readdirSync(join(ROOT, 'src', kind)).map((c) => `src/${kind}/${c}/README.md`).filter((f) => existsSync(join(ROOT, f))))];
    let links = 0;
    for (const file of readmes) {
      const text = readFileSync(join(ROOT, file), 'utf8');
      for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        if (/^(https?:|mailto:|#)/.test(target)) continue;
        links++;
        const path = resolve(ROOT, dirname(file), target.split('#')[0]);
        assert.ok(!relative(ROOT, path).startsWith('..'), `${file}: ${target} leaves the repository`);
        assert.ok(existsSync(path), `${file}: ${target} does not exist`);
      }
    }
    assert.ok(links > 20, `${links} links checked`);
  });

  it('names every built-in component, and every environment variable the bundled configs read', () => {
    const listed = (kind: string): string => readme.split('\n').find((l) => l.startsWith(`- ${kind}s: `)) ?? '';
    for (const f of registry.list()) assert.ok(listed(f.kind).includes(`\`${f.type}\``), `${f.kind} ${f.type} is not in the README's component list`);
    const variables = new Set<string>();
    for (const file of readdirSync(join(ROOT, 'config'))) {
      for (const [, name] of readFileSync(join(ROOT, 'config', file), 'utf8').matchAll(/\$\{env:([A-Z0-9_]+)/g)) variables.add(name);
    }
    assert.ok(variables.size >= 8, [...variables].join(', '));
    for (const name of variables) assert.match(readme, new RegExp(`\\| \`${name}\` \\|`), `${name} is not in the README's environment table`);
    assert.doesNotMatch(readme, /as those components land|does not exist yet/);
  });

  it('config/jaeger.yaml validates and turns BEAM events into spans before sending them', () => {
    const text = readFileSync(join(ROOT, 'config/jaeger.yaml'), 'utf8');
    assert.doesNotMatch(text, /Until the correlation processor/);
    const r = spawnSync(process.execPath, [CLI, 'print-config', '--config', 'config/jaeger.yaml'], { cwd: ROOT, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /processors:\n\s+- memory_limiter\n\s+- correlation\n/);
  });

  it('a port in use names the option that moves it', async () => {
    const busy: Server = createServer();
    await new Promise<void>((done) => busy.listen(0, '127.0.0.1', done));
    const port = (busy.address() as { port: number }).port;
    try {
      const config = join(work, 'busy.yaml');
      writeFileSync(config, `
receivers: { push: {} }
exporters: { debug: {} }
service:
  pipelines: { p: { receivers: [push], exporters: [debug] } }
  telemetry: { metrics: { endpoint: 127.0.0.1:${port} } }
`);
      const r = spawnSync(process.execPath, [CLI, '--config', config], { encoding: 'utf8', timeout: 20_000 });
      assert.equal(r.status, 1);
      assert.match(r.stderr, new RegExp(`127\\.0\\.0\\.1:${port} is in use by another program \\(EADDRINUSE\\): set service\\.telemetry\\.metrics\\.endpoint to another host:port`));
    } finally {
      busy.close();
    }
  });

  it('the embedding example runs as written from the packed package and prints what the README says', () => {
    const { project } = installPacked(work);
    const source = recipe('README.md', 'embedding');
    const js = ts.transpileModule(source, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } }).outputText;
    writeFileSync(join(project, 'app.mjs'), js);
    const r = spawnSync(process.execPath, ['app.mjs'], { cwd: project, encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, r.stderr);
    const printed = readme.slice(readme.indexOf('<!-- recipe: embedding')).match(/\nprints\n\n```\n([\s\S]*?)```/)?.[1];
    assert.ok(printed, 'the README shows what it prints');
    assert.equal(r.stdout, printed);
  });
});
