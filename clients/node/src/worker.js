// Worker: takes jobs from the Redis queue a Tempest front fills, runs your async handlers, and
// answers the front directly on its answer endpoint (docs/protocol.md). The Node counterpart
// of the C++ library's tempest::worker (include/tempest/worker.hpp, src/worker/lane.cpp).
//
//   const w = new Worker({ queue: 'tempest', concurrency: 4 });
//   w.on('url', async (req) => ({ status: 200, headers: { 'content-type': 'text/plain' }, body: 'Hello world!' }));
//   await w.run();        // until SIGTERM/SIGINT or w.stop(); then a clean stop
//
// Shape: `concurrency` lanes, each with its own Redis connection (its takes block on it), its
// own job source (reliable.js: ReliableSource with the id "<host>:<pid>:<lane>", or
// PlainSource) and its own loop: take up to n jobs (n sized from the lane's measured time per
// job, as src/worker/batch_size.hpp), then for each job in order:
//   trust     its respond_to must be announced in tempest:fronts or in answerAllow
//             (targets.js), else the job is dropped unhandled (counted, logged every 10 s)
//   deadline  a "url" job whose "deadline" (unix ms) has passed is dropped unstarted (counted)
//   handle    the handler of its action (a "url" handler gets a Request, codec.js)
//   answer    `<action> <id> <json>` on the endpoint's one connection (answers.js)
// so `concurrency` handlers run at once. Shared by the lanes: one more Redis connection
// ("control": heartbeat, reaper, fronts reads, cancellation probes, publish) and the answer
// connections. Reliable mode adds the heartbeat/reaper/goodbye of reliable.js.
//
// Stop (stop(), SIGTERM, SIGINT): every lane finishes the jobs it holds (a lane waiting for
// jobs notices within 1 s), answers go out (at most answerTimeout), the processing lists are
// emptied, goodbye.lua unregisters each id, the connections close.
// Handlers run on Node's one thread: one that blocks the event loop longer than heartbeatTtl
// stops the heartbeat, and its jobs are re-delivered to another worker (at-least-once).
import { EventEmitter } from 'node:events';
import os from 'node:os';
import { AnswerPool } from './answers.js';
import { Request, deadlinePassed, encodeUrlAnswer, encodeValue, errorAnswer, cancelField } from './codec.js';
import { Publisher } from './publisher.js';
import { connect, defaultRedisUrl, redactUrl, redisError, redisOptions } from './redis.js';
import { Heartbeat, PlainSource, QueueWatch, ReliableSource, keys } from './reliable.js';
import { loadScript } from './scripts.js';
import { Targets } from './targets.js';

const levels = { debug: 10, info: 20, warn: 30, error: 40, off: 100 };
// Lane numbers are unique within the process, so that two workers of one process never share a
// worker id (and so a heartbeat key and a processing list).
let nextLane = 0;
// Event names the worker itself emits; a job action of one of these names needs handle().
export const reservedEvents = new Set(['ready', 'stop', 'log', 'error', 'newListener', 'removeListener']);

export const defaults = Object.freeze({
  queue: 'tempest',
  mode: 'reliable',
  concurrency: 1,
  batch: 128,
  batchTime: 1,               // ms of work a take aims at
  heartbeatTtl: 3000,
  maxAttempts: 3,
  answerAllow: [],
  answerConnectTimeout: 500,
  answerTimeout: 5000,
  answerReplyWait: 100,
  answerBuffer: 8 << 20,
  logLevel: 'info',
  handleSignals: true,
});

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
// p, or undefined after ms (the timer is cleared when p settles first).
function within(p, ms) {
  let t;
  return Promise.race([p, new Promise((r) => { t = setTimeout(r, ms); })]).finally(() => clearTimeout(t));
}
const flushDelay = 0.5;  // ms: after this, each job of a batch is completed on its own (LREM)

// How many jobs a lane takes next: about batchTime of work by its measured time per job,
// between 1 and batch; 1 before the first measurement (so that slow jobs spread over lanes).
class BatchSize {
  constructor(max, budgetMs) {
    this.max = Math.max(1, max);
    this.budget = budgetMs;
    this.perJob = 0;
  }

  next() {
    if (this.perJob <= 0) return 1;
    const n = this.budget / this.perJob;
    return n >= this.max ? this.max : Math.max(1, Math.floor(n));
  }

  record(jobs, elapsedMs) {
    if (jobs <= 0) return;
    const per = Math.max(0.000001, elapsedMs / jobs);
    this.perJob = this.perJob <= 0 ? per : this.perJob + (per - this.perJob) / 4;
  }
}

export class Worker extends EventEmitter {
  constructor(options = {}) {
    super();
    this.ids = [];
    const o = { ...defaults, ...options };
    o.redis = o.redis || defaultRedisUrl();
    if (o.answerPassword === undefined) o.answerPassword = process.env.TEMPEST_ANSWER_PASSWORD || '';
    if (typeof o.answerAllow === 'string') o.answerAllow = o.answerAllow.split(',').map((s) => s.trim()).filter(Boolean);
    if (o.mode !== 'reliable' && o.mode !== 'plain') throw new Error(`mode: 'reliable' or 'plain', not '${o.mode}'`);
    if (!Number.isInteger(o.concurrency) || o.concurrency < 1) throw new Error('concurrency: an integer >= 1');
    if (!(o.logLevel in levels)) throw new Error(`logLevel: one of ${Object.keys(levels).join(', ')}`);
    redisOptions(o.redis);  // a bad URL throws now
    if (o.mode === 'reliable') for (const s of ['take', 'reap', 'goodbye']) loadScript(s);  // the files must be there
    this.options = o;
    this.handlers = new Map();
    this.stats = { handled: 0, expired: 0, untrusted: 0, cancelled: 0, failed: 0, droppedAnswers: 0, refusedAnswers: 0 };
    this.stopping = false;
    this.state = 'new';        // new -> running -> stopping -> stopped
    this.outstanding = new Set();  // answer replies not read yet
    this.untrustedLoggedAt = 0;
    this.untrustedUnlogged = 0;
    this.unknownActions = new Set();
  }

  // Registers the handler of an action, whatever its name (on() is the same for names that are
  // not reserved events). "url": async (req) => {status, headers, body} | string | Buffer.
  // Others: async (args, job) => value (sent as the answer unless undefined; job.answer(v)
  // sends one more).
  handle(action, fn) {
    if (typeof fn !== 'function') throw new TypeError('a handler is a function');
    this.handlers.set(action, fn);
    return this;
  }

  handlerFor(action) {
    if (this.handlers.has(action)) return this.handlers.get(action);
    if (reservedEvents.has(action)) return undefined;
    return this.listeners(action)[0];
  }

  log(level, msg) {
    if (levels[level] < levels[this.options.logLevel]) return;
    if (this.listenerCount('log')) this.emit('log', level, msg);
    else if (this.options.logger) this.options.logger(level, msg);
    else process.stderr.write(`tempest-worker ${level}: ${msg}\n`);
  }

  // Connects and starts the lanes (and in reliable mode the heartbeat). Resolves once started.
  async start() {
    if (this.state !== 'new') throw new Error('a worker starts once');
    this.state = 'running';
    const o = this.options;
    this.control = this.#redis('control');
    this.targets = new Targets(o.answerAllow, this.control);
    this.answers = new AnswerPool({
      password: o.answerPassword, connectTimeout: o.answerConnectTimeout, timeout: o.answerTimeout,
      bufferBytes: o.answerBuffer, log: (l, m) => this.log(l, m),
      onDropped: (n) => { this.stats.droppedAnswers += n; },
    });
    this.publisher = new Publisher(this.control);
    const host = os.hostname();
    if (o.mode === 'reliable') this.watch = new QueueWatch((name) => this.#redis(name), o.queue, (l, m) => this.log(l, m));
    this.ids = [];
    this.lanes = [];
    for (let n = 0; n < o.concurrency; ++n) {
      const i = nextLane++;
      const redis = this.#redis(`w${i}`);
      const id = `${host}:${process.pid}:${i}`;
      const log = (l, m) => this.log(l, `[w${i}] ${m}`);
      const source = o.mode === 'reliable'
        ? new ReliableSource(redis, { queue: o.queue, id, ttl: o.heartbeatTtl, log, stopping: () => this.stopping, watch: this.watch,
            bellGrace: o.bellGrace })
        : new PlainSource(redis, { queue: o.queue, log });
      if (o.mode === 'reliable') this.ids.push(id);
      this.lanes.push({ index: i, redis, source, log, batch: new BatchSize(o.batch, o.batchTime) });
    }
    if (o.mode === 'reliable') {
      this.heartbeat = new Heartbeat(this.control, {
        ids: this.ids, ttl: o.heartbeatTtl, maxAttempts: o.maxAttempts, log: (l, m) => this.log(l, m),
        targets: this.targets, answers: this.answers,
      });
      this.heartbeat.start();
    }
    this.done = Promise.all(this.lanes.map((l) => this.#runLane(l))).then(() => this.#finish());
    this.done.catch(() => {});
    this.log('info', `serving queue '${o.queue}' on ${redactUrl(o.redis)} (${o.mode}, concurrency ${o.concurrency})`);
    this.emit('ready');
  }

  // start(), then waits until the worker has stopped (stop(), or SIGTERM/SIGINT when
  // handleSignals). Resolves 0. The first signal asks for a clean stop; the listeners are then
  // removed, so a second one ends the process at once (Node's default), as a C++ worker's does.
  async run() {
    const onSignal = () => {
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
      this.stop();
    };
    if (this.options.handleSignals) {
      process.on('SIGTERM', onSignal);
      process.on('SIGINT', onSignal);
    }
    try {
      await this.start();
      await this.done;
    } finally {
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
    }
    return 0;
  }

  // Asks for a clean stop; resolves once stopped (jobs taken are handled and answered first).
  stop() {
    if (this.state === 'new') {
      this.state = 'stopped';
      return Promise.resolve();
    }
    if (!this.stopping) {
      this.log('info', 'stopping: finishing the jobs taken');
      this.stopping = true;
      // A reliable lane waiting on BLPOP <queue>:bell tempest:wake:<id> wakes at once.
      if (this.ids.length) {
        const p = this.control.pipeline();
        for (const id of this.ids) p.rpush(keys.wake(id), '1').pexpire(keys.wake(id), 10000);
        p.exec().catch(() => {});
      }
    }
    return this.done;
  }

  // Sends a Server-Sent Event to the browsers at /sub/<channel>, recorded in the channel's
  // history (publisher.js). Resolves with the entry id ('' with historyCount 0).
  publish(channel, data, o = {}) {
    if (!this.control) throw new Error('publish() needs a started worker (or use new Publisher(redis))');
    return this.publisher.publish(channel, data, o);
  }

  #redis(name) {
    const r = connect(this.options.redis, name);
    let down = false;
    r.on('error', (e) => {
      if (!down && !this.stopping) this.log('warn', `Redis (${name}): ${e.message}; reconnecting`);
      down = true;
    });
    r.on('ready', () => {
      if (down) this.log('info', `Redis (${name}): connected again`);
      down = false;
    });
    return r;
  }

  async #runLane(lane) {
    let backoff = 100, errorLogged = false;
    while (!this.stopping) {
      let jobs;
      try {
        jobs = await lane.source.next(lane.batch.next());
        errorLogged = false;
        backoff = 100;
      } catch (e) {
        if (this.stopping) break;
        if (!errorLogged) lane.log('error', `taking jobs from '${this.options.queue}' failed: ${redisError(e)}; retrying`);
        errorLogged = true;
        await sleep(backoff);
        backoff = Math.min(backoff * 2, 500);
        continue;
      }
      if (lane.source.cancelledCount) {
        this.stats.cancelled += lane.source.cancelledCount;
        lane.source.cancelledCount = 0;
      }
      if (!jobs.length) continue;
      const takenAt = Date.now();
      const t0 = performance.now();
      const replies = [];
      for (let i = 0; i < jobs.length; ++i) {
        const reply = await this.#handle(lane, jobs[i], takenAt);
        if (reply) replies.push(reply);
        if (i + 1 < jobs.length && performance.now() - t0 > flushDelay)
          Promise.resolve(lane.source.handled(jobs[i])).catch(() => {});  // a long batch: done with job i
      }
      lane.batch.record(jobs.length, performance.now() - t0);
      // Until the front acknowledged the batch's answers, or answerReplyWait: the next take
      // completes the batch in Redis, so its answers are out first.
      if (replies.length) await within(Promise.all(replies), this.options.answerReplyWait);
    }
    // At a stop: the answers out and acknowledged (or their endpoint down) before the jobs
    // leave the processing list, as the C++ lane does.
    if (this.outstanding.size) await within(Promise.all([...this.outstanding]), this.options.answerTimeout);
    try {
      await lane.source.stop();
    } catch (e) {
      lane.log('warn', `could not empty the processing list at stop: ${e.message}`);
    }
  }

  async #finish() {
    if (this.watch) await this.watch.stop();
    if (this.outstanding.size)
      await within(Promise.all([...this.outstanding]), this.options.answerTimeout);
    if (this.heartbeat) await this.heartbeat.stop();
    if (this.ids.length) await this.control.del(...this.ids.map(keys.wake)).catch(() => {});
    this.answers.close();
    for (const l of this.lanes) l.redis.disconnect();
    this.control.disconnect();
    this.state = 'stopped';
    this.log('info', `stopped (${this.stats.handled} jobs handled)`);
    this.emit('stop');
  }

  // One job: trust, deadline, handler, answer. Resolves with the answer's reply promise (or null).
  async #handle(lane, job, takenAt) {
    if (job.respondTo && !(await this.targets.allowed(job.respondTo, takenAt))) {
      this.#untrusted(lane, job);
      return null;
    }
    if (deadlinePassed(job, Date.now())) {
      ++this.stats.expired;
      lane.log('debug', `[j${job.id}] deadline passed before the job started; dropped`);
      return null;
    }
    ++this.stats.handled;
    const fn = this.handlerFor(job.action);
    if (job.action === 'url') return this.#send(lane, job, await this.#handleUrl(lane, job, fn));
    if (!fn) {
      if (!this.unknownActions.has(job.action)) {
        lane.log('warn', `[j${job.id}] no handler for action '${job.action}'; such jobs are skipped`);
        this.unknownActions.add(job.action);
      }
      return null;
    }
    let sent = 0;
    const more = [];
    const handle = {
      action: job.action, id: job.id, respondTo: job.respondTo, args: job.args,
      answer: (v) => { ++sent; const r = this.#send(lane, job, encodeValue(v)); if (r) more.push(r); },
    };
    try {
      const v = await fn(job.args, handle);
      if (v !== undefined) handle.answer(v);
    } catch (e) {
      ++this.stats.failed;
      lane.log('error', `[j${job.id}] handler for '${job.action}' failed: ${e && e.stack || e}`);
      if (sent === 0) return this.#send(lane, job, JSON.stringify({ error: 'internal error' }));
    }
    return more.length ? Promise.all(more) : null;
  }

  async #handleUrl(lane, job, fn) {
    if (!fn) return errorAnswer(501, 'Not Implemented');
    let req;
    try {
      req = new Request(job, (j) => this.#isCancelled(j));
    } catch (e) {
      lane.log('warn', `[j${job.id}] bad HTTP job: ${e.message}`);
      return errorAnswer(400, 'Bad Request');
    }
    try {
      const enc = encodeUrlAnswer(await fn(req));
      if (enc.dropped) lane.log('warn', `[j${job.id}] dropped ${enc.dropped} invalid response headers`);
      if (enc.badStatus) lane.log('warn', `[j${job.id}] the status is not an integer in 200..599; sending 500`);
      return enc.json;
    } catch (e) {
      ++this.stats.failed;
      lane.log('error', `[j${job.id}] handler failed on ${req.method} ${req.url}: ${e && e.stack || e}`);
      return errorAnswer(500, 'Internal Server Error');
    }
  }

  #send(lane, job, json) {
    if (!job.respondTo) return null;
    const p = this.answers.get(job.respondTo).send(job.action, String(job.id), json).then((reply) => {
      if (reply !== null && reply !== 'OK') {
        ++this.stats.refusedAnswers;
        lane.log('warn', `[j${job.id}] the front answered: ${reply}`);
      }
      this.outstanding.delete(p);
      return reply;
    });
    this.outstanding.add(p);
    return p;
  }

  async #isCancelled(job) {
    try {
      return (await this.control.hexists(keys.cancelled, cancelField(job))) === 1;
    } catch (e) {
      this.log('debug', `cannot ask Redis whether job ${job.id} was cancelled: ${e.message}`);
      return false;
    }
  }

  #untrusted(lane, job) {
    ++this.stats.untrusted;
    ++this.untrustedUnlogged;
    const now = Date.now();
    if (now - this.untrustedLoggedAt >= 10000) {
      lane.log('warn', `[j${job.id}] respond_to '${job.respondTo.slice(0, 100)}' is neither announced by a front ` +
                       `(tempest:fronts) nor in answerAllow: job dropped unhandled (${this.untrustedUnlogged} such job(s) since the last such line)`);
      this.untrustedLoggedAt = now;
      this.untrustedUnlogged = 0;
    }
  }
}
