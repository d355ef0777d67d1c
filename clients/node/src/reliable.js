// Where a lane's jobs come from, and the reliability layer around them (docs/protocol.md
// sections 8 and 9), as the C++ library does it (src/worker/reliable_source.cpp,
// plain_source.cpp, heartbeat.cpp, src/core/queue/reaper.cpp):
//
//   ReliableSource  (default; at-least-once) one lane = one id "<host>:<pid>:<lane>"
//     next(count)   EVALSHA take.lua, KEYS <q>:high <q> <q>:low tempest:processing:<id>
//                   tempest:worker:<id> tempest:workers <q>:bell, ARGV count ttl_ms id queue,
//                   then LRANGE tempest:processing:<id> 1 -1 and EXISTS tempest:cancelled, in one
//                   round trip (a pipeline); cancelled jobs (HMGET tempest:cancelled
//                   <respond_to>/<id>..., only while the hash exists) are dropped and HDELed.
//                   Nothing taken -> BLPOP <q>:bell tempest:wake:<id> 1 on the lane's own
//                   connection, then take again. The take completes the previous batch.
//     handled(job)  a job of a long batch is answered: LREM processing 1 <job>
//     stop()        DEL the processing list (everything in it was handled)
//   PlainSource     (--mode plain; at-most-once) BLMPOP 1 3 <q>:high <q> <q>:low LEFT COUNT n
//                   (BLPOP over the three on a Redis before 7.0)
//   Heartbeat       every ttl/3: SET tempest:worker:<id> 1 PX ttl for each lane + SADD
//                   tempest:workers <ids>; every ttl (and at start): the reaper, reap.lua for
//                   each id of tempest:workers whose heartbeat key is gone; at stop goodbye.lua
//                   per id (unregisters, or leaves held jobs to the next reaper)
//
//   QueueWatch      fronts that ring no bell (the 2012 one, anything that only RPUSHes <q>):
//                   once a lane found jobs after a wait that no token ended (not in its first
//                   3 s), one connection per worker keeps BLMOVE <q> <q> LEFT LEFT 1 pending
//                   (a wait that leaves the list as it is) while some lane waits, and when it
//                   returns a job pushes a token on tempest:wake:<id> of each waiting lane
//                   (expiring in 10 s), which ends their BLPOP at once (src/worker/queue_watch.hpp
//                   does it per lane; one per worker here, as the lanes share one thread).
// If you change a key, change src/core/queue/keys.hpp (the names' one reference) first.
import { cancelField, decodeJob } from './codec.js';
import { loadScript, isNoScript, runScript } from './scripts.js';
import { redisError } from './redis.js';

export const keys = {
  lists: (q) => [`${q}:high`, q, `${q}:low`],
  bell: (q) => `${q}:bell`,
  dead: (q) => `${q}:dead`,
  attempts: (q) => `${q}:attempts`,
  workers: 'tempest:workers',
  heartbeat: (id) => `tempest:worker:${id}`,
  processing: (id) => `tempest:processing:${id}`,
  wake: (id) => `tempest:wake:${id}`,
  cancelled: 'tempest:cancelled',
  bellKeep: 1024,
};

const waitSeconds = 1;  // a take's wait when nothing is there: how soon a stop is noticed
const bellGrace = 3000;  // ms: longer than a Tempest front's once-a-second check of tempest:workers

// Parses each payload; a job that is not one is logged and left out (it is still completed by
// the next take: a broken job must not come back for ever).
function decodeBatch(payloads, log) {
  const jobs = [];
  for (const p of payloads) {
    try {
      jobs.push(decodeJob(p));
    } catch (e) {
      log('warn', `skipping a malformed job (${e.message}): ${String(p).slice(0, 120)}`);
    }
  }
  return jobs;
}

export class ReliableSource {
  constructor(redis, { queue, id, ttl, log, stopping, watch, bellGrace: grace = bellGrace }) {
    this.bellGrace = grace;
    this.redis = redis;
    this.watch = watch;            // the worker's QueueWatch (bell-less fronts), or undefined
    this.started = Date.now();
    this.queue = queue;
    this.id = id;
    this.ttl = ttl;
    this.log = log;
    this.stopping = stopping;
    this.lists = keys.lists(queue);
    this.processing = keys.processing(id);
    this.take = loadScript('take');
  }

  async next(count) {
    let jobs = await this.#takeOnce(count);
    if (jobs.length || this.stopping()) return jobs;
    this.watch?.waiting(this.id, true);
    let woke;
    try {
      woke = await this.redis.blpop(keys.bell(this.queue), keys.wake(this.id), waitSeconds);
    } finally {
      this.watch?.waiting(this.id, false);
    }
    if (this.stopping()) return [];
    jobs = await this.#takeOnce(count);
    // No token, yet jobs: a front that rings no bell. Not in the lane's first seconds: a Tempest
    // front notices a new reliable worker within a second and rings no bell before that.
    if (woke === null && jobs.length && Date.now() - this.started > this.bellGrace) this.watch?.enable();
    return jobs;
  }

  async #takeOnce(count) {
    for (let attempt = 0; ; ++attempt) {
      const k = [...this.lists, this.processing, keys.heartbeat(this.id), keys.workers, keys.bell(this.queue)];
      const a = [count, this.ttl, this.id, this.queue];
      const res = await this.redis.pipeline()
        .evalsha(this.take.sha, k.length, ...k, ...a)
        .lrange(this.processing, 1, -1)
        .exists(keys.cancelled)
        .exec();
      const [[takeErr], [rangeErr, payloads], [, cancelledExists]] = res;
      if (takeErr) {
        if (!isNoScript(takeErr) || attempt > 0) throw takeErr;
        await this.redis.script('LOAD', this.take.source);  // SCRIPT FLUSH or a new Redis
        continue;
      }
      if (rangeErr) throw rangeErr;
      const jobs = decodeBatch(payloads, this.log);
      if (cancelledExists === 1 && jobs.length) return this.#dropCancelled(jobs);
      return jobs;
    }
  }

  // Some front cancelled jobs (clients gone, protocol.md 8.5): those of the batch with a field
  // in tempest:cancelled are dropped unstarted and their fields deleted.
  async #dropCancelled(jobs) {
    const marked = jobs.filter((j) => j.respondTo);
    if (!marked.length) return jobs;
    const fields = marked.map(cancelField);
    const found = await this.redis.hmget(keys.cancelled, ...fields);
    const dropped = new Set();
    const gone = [];
    found.forEach((v, i) => {
      if (v !== null) {
        dropped.add(marked[i]);
        gone.push(fields[i]);
      }
    });
    if (!gone.length) return jobs;
    await this.redis.hdel(keys.cancelled, ...gone);
    for (const j of dropped) this.log('debug', `[j${j.id}] cancelled by the front before it started; dropped`);
    this.cancelledCount = (this.cancelledCount || 0) + dropped.size;
    return jobs.filter((j) => !dropped.has(j));
  }

  handled(job) {
    return this.redis.lrem(this.processing, 1, job.payload);
  }

  stop() {
    return this.redis.del(this.processing);
  }
}

export class QueueWatch {
  constructor(makeRedis, queue, log) {
    this.makeRedis = makeRedis;
    this.queue = queue;
    this.log = log;
    this.enabled = false;
    this.stopped = false;
    this.waiters = new Set();     // ids of the lanes in their bell wait
    this.changed = null;          // resolves when waiters changes
  }

  waiting(id, on) {
    if (on) this.waiters.add(id);
    else this.waiters.delete(id);
    this.changed?.();
  }

  enable() {
    if (this.enabled || this.stopped) return;
    this.enabled = true;
    this.log('info', `jobs arrive on '${this.queue}' without bell tokens (a front that rings none): watching the list`);
    this.redis = this.makeRedis('watch');
    this.done = this.#loop();
  }

  #until(ms) {
    return new Promise((res) => {
      const t = setTimeout(res, ms);
      this.changed = () => { clearTimeout(t); this.changed = null; res(); };
    });
  }

  async #loop() {
    while (!this.stopped) {
      if (this.waiters.size === 0) {
        await this.#until(1000);
        continue;
      }
      let job;
      try {
        job = await this.redis.blmove(this.queue, this.queue, 'LEFT', 'LEFT', waitSeconds);
      } catch (e) {
        if (this.stopped) break;
        if (/unknown command/i.test(e.message)) {
          this.log('info', 'Redis has no BLMOVE (before 6.2): bell tokens only');
          break;
        }
        await this.#until(1000);
        continue;
      }
      if (job === null || this.stopped || this.waiters.size === 0) continue;
      const p = this.redis.pipeline();
      for (const id of this.waiters) p.rpush(keys.wake(id), '1').pexpire(keys.wake(id), 10000);
      await p.exec().catch(() => {});
      await this.#until(50);  // the woken lanes leave their wait before the next BLMOVE
    }
  }

  async stop() {
    this.stopped = true;
    this.changed?.();
    if (this.redis) this.redis.disconnect();
    await this.done?.catch(() => {});
  }
}

export class PlainSource {
  constructor(redis, { queue, log }) {
    this.redis = redis;
    this.lists = keys.lists(queue);
    this.log = log;
    this.blmpop = true;
  }

  async next(count) {
    if (this.blmpop) {
      let r;
      try {
        r = await this.redis.call('BLMPOP', waitSeconds, 3, ...this.lists, 'LEFT', 'COUNT', count);
      } catch (e) {
        if (!/unknown command/i.test(e.message)) throw e;
        this.log('info', 'Redis has no BLMPOP (before 7.0): using BLPOP');
        this.blmpop = false;
        return [];
      }
      return r ? decodeBatch(r[1], this.log) : [];
    }
    const r = await this.redis.blpop(...this.lists, waitSeconds);
    return r ? decodeBatch([r[1]], this.log) : [];
  }

  handled() {}

  stop() {}
}

// The unsafe-to-retry answer of a reaped job (src/core/queue/entry.cpp unsafe_retry_answer).
export function unsafeRetryAnswer(action) {
  if (action === 'url')
    return JSON.stringify([502, { 'Content-Type': 'text/plain' }, 'the worker handling this request died; it is not safe to retry']);
  return JSON.stringify({ error: 'the worker handling this job died; it is not safe to retry' });
}

export class Heartbeat {
  // o: {ids, ttl, maxAttempts, log, targets, answers (AnswerPool)}
  constructor(redis, o) {
    this.redis = redis;
    this.o = o;
    this.goodbyeScript = loadScript('goodbye');
    this.reapScript = loadScript('reap');
    this.timer = null;
    this.nextReap = 0;
    this.running = null;
    this.downLogged = false;
  }

  start() {
    this.tick();
    this.timer = setInterval(() => this.tick(), Math.max(1, Math.floor(this.o.ttl / 3)));
  }

  // One beat, and the reaper when it is due; never two at once.
  tick() {
    if (this.running) return this.running;
    this.running = (async () => {
      try {
        await this.beat();
        if (Date.now() >= this.nextReap) {
          this.nextReap = Date.now() + this.o.ttl;
          await this.reap();
        }
        if (this.downLogged) this.o.log('info', 'heartbeat: Redis is back');
        this.downLogged = false;
      } catch (e) {
        if (!this.downLogged) this.o.log('warn', `heartbeat: ${redisError(e)}; retrying`);
        this.downLogged = true;
      } finally {
        this.running = null;
      }
    })();
    return this.running;
  }

  // The key and the registration together: take.lua registers only a lane whose key is
  // missing, so a key a beat brings back (after a reaper dropped the id) must re-register.
  async beat() {
    const p = this.redis.pipeline();
    for (const id of this.o.ids) p.set(keys.heartbeat(id), '1', 'PX', this.o.ttl);
    p.sadd(keys.workers, ...this.o.ids);
    for (const [err] of await p.exec()) if (err) throw err;
  }

  async reap() {
    const ids = await this.redis.smembers(keys.workers);
    if (!ids.length) return;
    const p = this.redis.pipeline();
    for (const id of ids) p.exists(keys.heartbeat(id));
    const alive = await p.exec();
    for (let i = 0; i < ids.length; ++i) {
      if (alive[i][0] || alive[i][1] !== 0) continue;
      await this.#reapOne(ids[i]);
    }
  }

  async #reapOne(id) {
    let queues = [];
    for (let round = 0; round < 4; ++round) {
      const k = [keys.processing(id), keys.heartbeat(id), keys.workers];
      const a = [id, this.o.maxAttempts, keys.bellKeep];
      for (const q of queues) {
        k.push(...keys.lists(q), keys.bell(q), keys.attempts(q), keys.dead(q));
        a.push(q);
      }
      const rep = await runScript(this.redis, this.reapScript, k, a);
      if (rep[0] === -2) {
        queues = queues.concat(rep.slice(1));
        continue;
      }
      if (rep[0] === -1) return;  // alive again
      const unsafe = rep.slice(2);
      this.o.log('info', `reaped dead worker ${id}: ${rep[0]} jobs re-queued, ${rep[1]} dead-lettered, ` +
                         `${unsafe.length} answered 502 (not safe to retry)`);
      await Promise.all(unsafe.map((payload) => this.#answerUnsafe(payload)));
      return;
    }
    throw new Error(`the reap script of worker ${id} keeps naming new queues`);
  }

  async #answerUnsafe(payload) {
    let job;
    try {
      job = decodeJob(payload);
    } catch {
      this.o.log('warn', `a job not safe to retry is not readable; dropped: ${payload.slice(0, 120)}`);
      return;
    }
    if (!job.respondTo) return;
    if (!(await this.o.targets.allowed(job.respondTo, Date.now()))) {
      this.o.log('warn', `[j${job.id}] respond_to '${job.respondTo.slice(0, 100)}' is neither announced by a front nor allowed: no 502 sent there`);
      return;
    }
    await this.o.answers.get(job.respondTo).send(job.action, String(job.id), unsafeRetryAnswer(job.action));
  }

  // At a clean stop, after the lanes emptied their processing lists.
  async stop() {
    clearInterval(this.timer);
    this.timer = null;
    if (this.running) await this.running.catch(() => {});
    for (const id of this.o.ids) {
      try {
        const r = await runScript(this.redis, this.goodbyeScript, [keys.processing(id), keys.heartbeat(id), keys.workers], [id]);
        if (r === 0) this.o.log('warn', `worker ${id} stops with jobs in flight; the next reaper hands them on`);
      } catch (e) {
        this.o.log('warn', `worker ${id}: goodbye failed: ${e.message}`);
      }
    }
  }
}
