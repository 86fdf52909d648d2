/**
 * `scope-pipeline beam-path`: compiles beam-receiver/ (the Elixir shim,
 * `ScopeBeam.*`) with the Elixir on PATH (`mix`, MIX_ENV=prod, offline: the
 * project has no dependencies) and prints the absolute paths a node loads it
 * from, ready to paste: `-pa` flags for `erl` and for `elixir`/`iex`,
 * `code:add_pathsa/1` for a running Erlang shell, `Code.prepend_path/1` for a
 * running Elixir node. A plain Erlang node also needs Elixir's own `elixir`
 * and `logger` ebins, so its forms carry them.
 *
 * The build goes to `beam-receiver/_build/prod` when the package's directory
 * is writable (a clone, a local install), otherwise to a cache directory
 * (`$XDG_CACHE_HOME/scope-pipeline/…`, default `~/.cache/scope-pipeline/…`),
 * one per package version and location. `mix` recompiles only what changed,
 * so running it again answers in about a second.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, unlinkSync } from 'node:fs';
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { VERSION } from './version.js';

/** beam-receiver/ in this package (build/src/ is two levels below the package root). */
export const BEAM_RECEIVER_SOURCE = resolve(fileURLToPath(new URL('../../beam-receiver/', import.meta.url)));

/** What went wrong, said so that the command prints it without a stack trace. */
export class BeamPathError extends Error {
  override name = 'BeamPathError';
}

export interface BeamReceiverPaths {
  /** ScopeBeam's compiled modules and scope_beam.app: all an Elixir node needs. */
  ebin: string;
  /** Elixir's own elixir and logger ebins, which a plain Erlang node needs besides `ebin`. */
  elixirEbins: string[];
  /** MIX_BUILD_PATH of the build (`ebin` is its lib/scope_beam/ebin). */
  buildPath: string;
  otpRelease: string;
  elixirVersion: string;
}

export interface BuildOptions {
  /** The beam-receiver sources (default: this package's). */
  source?: string;
  /** Environment of `mix` and of the cache directory's choice (default: process.env). */
  env?: NodeJS.ProcessEnv;
  /** Where mix's output goes while it compiles (default: nowhere). */
  progress?: (text: string) => void;
}

/** True when `dir` exists (or can be made) and a file can be created in it. */
function writable(dir: string): boolean {
  try {
    mkdirSync(dir, { recursive: true });
    const probe = join(dir, `.scope-pipeline-write-test-${process.pid}`);
    closeSync(openSync(probe, 'wx'));
    unlinkSync(probe);
    return true;
  } catch {
    return false;
  }
}

/** Where the build goes: beam-receiver/_build/prod when writable, else the user's cache directory. */
export function buildPathFor(source: string, env: NodeJS.ProcessEnv = process.env): string {
  const inPackage = join(source, '_build', 'prod');
  if (writable(inPackage)) return inPackage;
  const xdg = env.XDG_CACHE_HOME;
  const cacheRoot = xdg && isAbsolute(xdg) ? xdg : join(env.HOME && isAbsolute(env.HOME) ? env.HOME : homedir(), '.cache');
  const key = createHash('sha256').update(source).digest('hex').slice(0, 12);
  const cached = join(cacheRoot, 'scope-pipeline', `beam-receiver-${VERSION}-${key}`);
  if (writable(cached)) return cached;
  throw new BeamPathError(`beam-path: cannot build beam-receiver: neither ${inPackage} nor ${cached} is writable (set XDG_CACHE_HOME to a writable directory)`);
}

const MARK = '@scope_beam_path ';
/** Evaluated by `mix run` once the project is compiled: the exact paths and versions, one marked line each. */
const REPORT = [
  `IO.puts(${JSON.stringify(MARK)} <> "ebin " <> Mix.Project.compile_path())`,
  `for app <- [:elixir, :logger], do: IO.puts(${JSON.stringify(MARK)} <> "lib " <> List.to_string(:code.lib_dir(app)))`,
  `IO.puts(${JSON.stringify(MARK)} <> "versions " <> System.otp_release() <> " " <> System.version())`,
].join('; ');

function runMix(source: string, env: NodeJS.ProcessEnv): { status: number | null; stdout: string; stderr: string; error?: NodeJS.ErrnoException } {
  const r = spawnSync('mix', ['run', '--no-start', '-e', REPORT], { cwd: source, env, encoding: 'utf8', timeout: 300_000, maxBuffer: 64 * 1024 * 1024 });
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '', ...(r.error ? { error: r.error as NodeJS.ErrnoException } : {}) };
}

/** Compiles beam-receiver (incrementally) and returns the paths to load it from. */
export function buildBeamReceiver(options: BuildOptions = {}): BeamReceiverPaths {
  const source = resolve(options.source ?? BEAM_RECEIVER_SOURCE);
  const baseEnv = options.env ?? process.env;
  if (!existsSync(join(source, 'mix.exs')) || !existsSync(join(source, 'lib', 'scope_beam.ex'))) {
    throw new BeamPathError(`beam-path: no beam-receiver sources in ${source} (mix.exs and lib/ are part of the package)`);
  }
  const buildPath = buildPathFor(source, baseEnv);
  const env: NodeJS.ProcessEnv = { ...baseEnv, MIX_ENV: 'prod', HEX_OFFLINE: '1', MIX_BUILD_PATH: buildPath };
  // Another project file or target would build something else than beam-receiver.
  delete env.MIX_EXS;
  delete env.MIX_TARGET;
  let r = runMix(source, env);
  if (r.error?.code === 'ENOENT') {
    throw new BeamPathError('beam-path compiles beam-receiver with Elixir\'s mix, which is not on PATH: install Elixir 1.14+ '
      + '(with Erlang/OTP 25+; Debian/Ubuntu: apt-get install elixir) and run it again');
  }
  // Once more: another beam-path (or mix) may have been compiling into the same directory at the same moment.
  if (r.status !== 0 && !r.error) r = runMix(source, env);
  const lines = r.stdout.split('\n');
  const marked = lines.filter((l) => l.startsWith(MARK)).map((l) => l.slice(MARK.length).trim());
  const output = lines.filter((l) => !l.startsWith(MARK)).join('\n').trim();
  if (output !== '' || r.stderr.trim() !== '') options.progress?.(`${[output, r.stderr.trim()].filter((s) => s !== '').join('\n')}\n`);
  if (r.status !== 0 || r.error) {
    throw new BeamPathError(`beam-path: compiling beam-receiver failed (MIX_ENV=prod mix compile in ${source}, build in ${buildPath}): `
      + `${r.error ? r.error.message : `exit status ${String(r.status)}`}\n${output}\n${r.stderr.trim()}`.trimEnd());
  }
  const field = (name: string): string[] => marked.filter((l) => l.startsWith(`${name} `)).map((l) => l.slice(name.length + 1));
  const [ebinLine] = field('ebin');
  const libs = field('lib');
  const [versions] = field('versions');
  if (ebinLine === undefined || libs.length !== 2 || versions === undefined) {
    throw new BeamPathError(`beam-path: mix did not report the paths (got: ${JSON.stringify(marked)})\n${output}`);
  }
  const ebin = resolve(ebinLine);
  const elixirEbins = libs.map((l) => join(resolve(l), 'ebin'));
  for (const [dir, app] of [[ebin, 'scope_beam'], [elixirEbins[0], 'elixir'], [elixirEbins[1], 'logger']]) {
    if (!existsSync(join(dir, `${app}.app`))) throw new BeamPathError(`beam-path: no ${app}.app in ${dir} after the build`);
  }
  const [otpRelease, elixirVersion] = versions.split(' ');
  return { ebin, elixirEbins, buildPath, otpRelease, elixirVersion };
}

/** A path as one shell word: as is when plain, else single-quoted. */
function shellWord(path: string): string {
  return /^[\w@%+=:,./-]+$/.test(path) ? path : `'${path.replace(/'/g, `'\\''`)}'`;
}

function erlangString(path: string): string {
  return `"${path.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

function elixirString(path: string): string {
  return `"${path.replace(/[\\"#]/g, (c) => `\\${c}`)}"`;
}

export const BEAM_PATH_FORMATS = ['text', 'erl', 'elixir', 'json'] as const;
export type BeamPathFormat = (typeof BEAM_PATH_FORMATS)[number];

/** The paths in one of the formats: text (every form, commented), erl / elixir (the -pa flags alone, for `$(…)`), json. */
export function formatBeamPaths(p: BeamReceiverPaths, format: BeamPathFormat = 'text'): string {
  const erlDirs = [p.ebin, ...p.elixirEbins];
  switch (format) {
    case 'erl':
      return `-pa ${erlDirs.join(' ')}\n`;
    case 'elixir':
      return `-pa ${p.ebin}\n`;
    case 'json':
      return `${JSON.stringify({
        ebin: p.ebin, elixir_ebins: p.elixirEbins, build_path: p.buildPath, otp_release: p.otpRelease, elixir_version: p.elixirVersion,
        erl_flags: ['-pa', ...erlDirs], elixir_flags: ['-pa', p.ebin],
      }, null, 2)}\n`;
    case 'text':
      return [
        `# scope_beam ${VERSION} (beam-receiver), compiled into ${p.buildPath}`,
        `# by Elixir ${p.elixirVersion} on Erlang/OTP ${p.otpRelease}: load it into a node with the same or a newer OTP and Elixir.`,
        '',
        '# Start a plain Erlang node (erl, or a release\'s ERL_AFLAGS) with ScopeBeam and Elixir\'s elixir and logger:',
        `-pa ${erlDirs.map(shellWord).join(' ')}`,
        '',
        '# Start an Elixir node (elixir, iex, mix run, or an Elixir release\'s ERL_AFLAGS) with:',
        `-pa ${shellWord(p.ebin)}`,
        '',
        '# In a running Erlang shell:',
        `code:add_pathsa([${erlDirs.map(erlangString).join(', ')}]).`,
        '',
        '# In a running Elixir node (IEx, iex --remsh, bin/app remote):',
        `Code.prepend_path(${elixirString(p.ebin)})`,
        '',
      ].join('\n');
  }
}

/** The command: builds, then returns the text to print. Throws BeamPathError for anything the user must fix. */
export function beamPath(format: string | undefined, progress?: (text: string) => void): string {
  const chosen = format ?? 'text';
  if (!(BEAM_PATH_FORMATS as readonly string[]).includes(chosen)) throw new BeamPathError(`beam-path --format must be one of ${BEAM_PATH_FORMATS.join(', ')}`);
  return formatBeamPaths(buildBeamReceiver(progress ? { progress } : {}), chosen as BeamPathFormat);
}
