/**
 * The code blocks the READMEs mark for tests with an HTML comment on the line
 * before them (`<!-- recipe: NAME … -->`), so a test runs what the README
 * says, as written.
 */
import { execFileSync, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { chmodSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './helpers.js';

/**
 * A project in `work` with scope-pipeline installed from `npm pack`'s tarball
 * (the published files only), its dependencies linked from this checkout's
 * node_modules, and the bin linked as npm install does; returns the project
 * and the package directories.
 */
export function installPacked(work: string): { project: string; pkg: string } {
  const packed = JSON.parse(execFileSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })) as Array<{ filename: string }>;
  const project = join(work, 'project');
  const modules = join(project, 'node_modules');
  mkdirSync(join(modules, '.bin'), { recursive: true });
  execFileSync('tar', ['xzf', join(work, packed[0].filename), '-C', modules]);
  const pkg = join(modules, 'scope-pipeline');
  execFileSync('mv', [join(modules, 'package'), pkg]);
  for (const name of readdirSync(join(ROOT, 'node_modules'))) {
    if (name !== '.bin' && !name.startsWith('.') && name !== 'scope-pipeline') symlinkSync(join(ROOT, 'node_modules', name), join(modules, name));
  }
  chmodSync(join(pkg, 'build/src/cli.js'), 0o755);
  symlinkSync('../scope-pipeline/build/src/cli.js', join(modules, '.bin', 'scope-pipeline'));
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module', dependencies: { 'scope-pipeline': '*' } }));
  return { project, pkg };
}

/** The text of the fenced block after `<!-- recipe: NAME` in `file` (relative to the repository), indentation taken off. */
export function recipe(file: string, name: string): string {
  const lines = readFileSync(join(ROOT, file), 'utf8').split('\n');
  const at = lines.findIndex((l) => new RegExp(`^\\s*<!-- recipe: ${name}(\\s|-->)`).test(l));
  if (at < 0) throw new Error(`${file}: no <!-- recipe: ${name} --> marker`);
  const fence = /^(\s*)```/.exec(lines[at + 1] ?? '');
  if (!fence) throw new Error(`${file}: the line after <!-- recipe: ${name} --> does not open a code block`);
  const indent = fence[1].length;
  const end = lines.findIndex((l, i) => i > at + 1 && /^\s*```\s*$/.test(l));
  if (end < 0) throw new Error(`${file}: the code block of recipe ${name} is not closed`);
  return lines.slice(at + 2, end).map((l) => l.slice(Math.min(indent, l.length - l.trimStart().length))).join('\n');
}

/** The recipe's non-empty lines. */
export function recipeLines(file: string, name: string): string[] {
  return recipe(file, name).split('\n').filter((l) => l.trim() !== '');
}

/** A command (a node's shell) whose stdin the test types into, reading everything it prints. */
export interface Typed {
  child: ChildProcessWithoutNullStreams;
  /** stdout and stderr so far, interleaved as they arrived. */
  output(): string;
  type(text: string): void;
  /** Waits until the output (from `from` on) matches `re`; returns the match. */
  waitFor(re: RegExp, timeoutMs?: number, from?: number): Promise<RegExpMatchArray>;
  /** Resolves with the exit code (null when killed). */
  exited: Promise<number | null>;
  /** Kills the command and everything it started (its process group). */
  kill(): Promise<void>;
}

/** Runs `command` through sh (its own process group, so a kill reaches the node it starts). */
export function typeInto(command: string, options: { cwd: string; env?: NodeJS.ProcessEnv; argv?: string[] }): Typed {
  const [file, ...args] = options.argv ? [...options.argv, 'sh', '-c', command] : ['sh', '-c', command];
  const child = spawn(file, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: 'pipe', detached: true });
  let text = '';
  child.stdout.on('data', (d: Buffer) => (text += d.toString()));
  child.stderr.on('data', (d: Buffer) => (text += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  let done = false;
  void exited.then(() => (done = true));
  return {
    child,
    output: () => text,
    type(t) {
      child.stdin.write(t);
    },
    async waitFor(re, timeoutMs = 30_000, from = 0) {
      const end = Date.now() + timeoutMs;
      for (;;) {
        const m = text.slice(from).match(re);
        if (m) return m;
        if (done) throw new Error(`\`${command}\` exited before printing ${String(re)}:\n${text}`);
        if (Date.now() > end) throw new Error(`timed out waiting for \`${command}\` to print ${String(re)}; it printed:\n${text}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    exited,
    async kill() {
      if (!done) {
        try {
          process.kill(-(child.pid as number), 'SIGKILL');
        } catch {
          // already gone
        }
      }
      await exited;
    },
  };
}
