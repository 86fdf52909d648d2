#!/usr/bin/env node
// `npm start`: builds only when a source is newer than the last build (a full tsc takes ~5 s; most starts change
// nothing). The build's own marker is build/src/cli.js; tsconfig.json and package.json count as sources.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const marker = join(root, 'build', 'src', 'cli.js');

function newest(dir) {
  let latest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) latest = Math.max(latest, newest(path));
    else if (entry.name.endsWith('.ts')) latest = Math.max(latest, statSync(path).mtimeMs);
  }
  return latest;
}

const built = existsSync(marker) ? statSync(marker).mtimeMs : 0;
const sources = Math.max(
  ...['src', 'test', 'bench'].map((d) => (existsSync(join(root, d)) ? newest(join(root, d)) : 0)),
  ...['tsconfig.json', 'package.json'].map((f) => statSync(join(root, f)).mtimeMs),
);
if (sources > built) {
  execFileSync('npm', ['run', 'build', '--silent'], { cwd: root, stdio: 'inherit' });
}
