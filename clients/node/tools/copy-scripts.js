// npm pack's prepack/postpack step: copies the queue scripts of the tree
// (<repo>/src/core/queue/scripts/*.lua) into clients/node/scripts/, so that the tarball works
// outside the tree; --clean removes the copy afterwards (it is never committed: .gitignore).
// Fails when the tree's scripts cannot be found: a package without them would not run.
import { copyFileSync, existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const packageDir = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(packageDir, 'scripts');

if (process.argv.includes('--clean')) {
  rmSync(out, { recursive: true, force: true });
  process.exit(0);
}
const from = process.env.TEMPEST_SCRIPTS_DIR || resolve(packageDir, '..', '..', 'src', 'core', 'queue', 'scripts');
if (!existsSync(join(from, 'take.lua'))) {
  console.error(`copy-scripts: no take.lua in ${from} (run npm pack from the Tempest tree, or set TEMPEST_SCRIPTS_DIR)`);
  process.exit(1);
}
rmSync(out, { recursive: true, force: true });
mkdirSync(out);
const names = readdirSync(from).filter((n) => n.endsWith('.lua'));
for (const n of names) copyFileSync(join(from, n), join(out, n));
console.error(`copy-scripts: ${names.length} scripts from ${from}`);
