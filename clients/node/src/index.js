// tempest-worker: the Node.js client of Tempest (README.md). The modules:
//   worker.js     Worker: lanes, handlers, answers, stop      reliable.js  take/heartbeat/reap/goodbye, plain pop
//   codec.js      jobs, Request, answer encoding               answers.js   answer connections (RESP)
//   targets.js    announced endpoints (tempest:fronts)         publisher.js publish with history
//   scripts.js    the repo's .lua files, EVALSHA               options.js   the standard flags
//   express.js    an Express/Connect app as a worker (import 'tempest-worker/express')
export { Worker, defaults, reservedEvents } from './worker.js';
export { Request, decodeJob, encodeUrlAnswer } from './codec.js';
export { Publisher, historyKey } from './publisher.js';
export { optionsFromArgs, parseWorkerArgs, usage } from './options.js';
export { scriptsDir, loadScript } from './scripts.js';
export { keys } from './reliable.js';
export { connect as connectRedis, redisOptions } from './redis.js';
