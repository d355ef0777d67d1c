// The Lua scripts of the queue model (take, reap, goodbye, history), read from the very files
// the C++ library embeds: <repo>/src/core/queue/scripts/*.lua (src/core/queue/scripts.hpp lists
// them; each file's header comment gives its KEYS and ARGV). Never a copy of their text here.
//
// Where the files are found, first match wins:
//   $TEMPEST_SCRIPTS_DIR                  an override (a checkout elsewhere, a test)
//   <repo>/src/core/queue/scripts/        walking up from this package (clients/node/src/..)
//   <package>/scripts/                    copied in by `npm pack` (prepack: tools/copy-scripts.js)
//                                         for an install outside the tree; never committed
//
//   const take = loadScript('take');                 // {name, source, sha}
//   await runScript(redis, take, keys, args);         // EVALSHA; SCRIPT LOAD on NOSCRIPT, then again
//
// If you change how the files are found, change tools/copy-scripts.js and the README too.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const packageDir = resolve(here, '..');

// The directory holding take.lua and its siblings, or throws naming where it looked.
export function scriptsDir() {
  const tried = [];
  const env = process.env.TEMPEST_SCRIPTS_DIR;
  if (env) {
    if (existsSync(join(env, 'take.lua'))) return env;
    throw new Error(`TEMPEST_SCRIPTS_DIR=${env} holds no take.lua`);
  }
  for (let dir = packageDir; ; dir = dirname(dir)) {
    const candidate = join(dir, 'src', 'core', 'queue', 'scripts');
    tried.push(candidate);
    if (existsSync(join(candidate, 'take.lua'))) return candidate;
    if (dirname(dir) === dir) break;
  }
  const packaged = join(packageDir, 'scripts');
  tried.push(packaged);
  if (existsSync(join(packaged, 'take.lua'))) return packaged;
  throw new Error(`cannot find the Tempest queue scripts (take.lua); looked in ${tried.join(', ')}; ` +
                  'set TEMPEST_SCRIPTS_DIR to <tempest repo>/src/core/queue/scripts');
}

const cache = new Map();

// One script: its text exactly as in the file, and the SHA-1 Redis will know it by.
export function loadScript(name) {
  let s = cache.get(name);
  if (!s) {
    const source = readFileSync(join(scriptsDir(), `${name}.lua`), 'utf8');
    s = { name, source, sha: createHash('sha1').update(source).digest('hex') };
    cache.set(name, s);
  }
  return s;
}

export function isNoScript(err) {
  return err && typeof err.message === 'string' && err.message.startsWith('NOSCRIPT');
}

// EVALSHA; when Redis does not know the script (restarted, SCRIPT FLUSH): SCRIPT LOAD, then
// EVALSHA once more. redis is an ioredis client.
export async function runScript(redis, script, keys, args) {
  const argv = [script.sha, keys.length, ...keys, ...args];
  try {
    return await redis.evalsha(...argv);
  } catch (err) {
    if (!isNoScript(err)) throw err;
  }
  try {
    await redis.script('LOAD', script.source);
  } catch (err) {
    err.scriptLoadRefused = true;  // an ACL without SCRIPT LOAD? (the publisher falls back to EVAL)
    throw err;
  }
  return redis.evalsha(...argv);
}
