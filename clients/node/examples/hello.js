#!/usr/bin/env node
// The hello worker: answers every HTTP request with "Hello world!" (and X-Worker: node, which
// language answered in a mixed fleet: examples/angel.toml), like examples/hello_worker.cpp.
//   node examples/hello.js [--redis URL] [--queue NAME] [--mode reliable|plain] [--concurrency N]
import { Worker, optionsFromArgs } from 'tempest-worker';

const worker = new Worker(optionsFromArgs(process.argv.slice(2), 'Answers every request with "Hello world!"'));
worker.on('url', () => ({ status: 200, headers: { 'Content-Type': 'text/plain', 'X-Worker': 'node' }, body: 'Hello world!' }));
process.exitCode = await worker.run();
