#!/usr/bin/env node
// The Express gateway: serves an existing Express (or Connect, or `(req, res)` Node) app as a
// Tempest worker, as `python3 -m tempest.wsgi module:app` does for WSGI.
//   node examples/express.js APP_MODULE[:EXPORT] [--redis URL] [--queue NAME] [--concurrency N] ...
// APP_MODULE is a file path (or a package name); EXPORT the name of the app's export (default:
// `app`, else the default export). The module must not listen itself when imported.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { optionsFromArgs } from 'tempest-worker';
import { serveApp } from 'tempest-worker/express';

const options = optionsFromArgs(process.argv.slice(2), 'Serves an Express/Connect app as a Tempest worker',
  {}, { positionals: ['APP_MODULE[:EXPORT]'] });
const spec = options.positionals[0];
const colon = spec.lastIndexOf(':');
const [file, name] = colon > 0 ? [spec.slice(0, colon), spec.slice(colon + 1)] : [spec, ''];
const url = existsSync(resolve(file)) ? pathToFileURL(resolve(file)).href : file;  // a file, else a package
let mod;
try {
  mod = await import(url);
} catch (e) {
  process.stderr.write(`express.js: cannot import ${file}: ${e.message}\n`);
  process.exit(2);
}
const app = name ? mod[name] : mod.app ?? mod.default;
if (typeof app !== 'function') {
  process.stderr.write(`express.js: ${file} exports no app${name ? ` named '${name}'` : " ('app' or default)"}\n`);
  process.exit(2);
}
delete options.positionals;
process.exitCode = await serveApp(app, options).run();
