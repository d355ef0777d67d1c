"""Where a lane's jobs come from, and the reliability layer around them (docs/protocol.md 3.5,
8, 9). Mirrors src/worker/{reliable_source,plain_source,heartbeat}.cpp,
src/core/queue/reaper.cpp and src/core/answer/targets.cpp; the scripts are the repo's .lua files
(scripts.py). If you change the keys or a script's KEYS/ARGV, change them there too.

  ReliableSource.next(count)  EVALSHA take.lua (KEYS <q>:high <q> <q>:low tempest:processing:<id>
                              tempest:worker:<id> tempest:workers <q>:bell; ARGV count ttl_ms id
                              queue), LRANGE <processing> 1 -1 and EXISTS tempest:cancelled in
                              one round trip; cancelled jobs dropped (HMGET, HDEL); nothing taken
                              -> BLPOP <q>:bell tempest:wake:<id> 1, then take again
                              (and, once jobs came without a bell token, a QueueWatch)
  ReliableSource.handled(job) a job of a long batch is answered: LREM processing 1 <job>
  ReliableSource.stop()       DEL the processing list (everything in it was handled)
  PlainSource.next(count)     BLMPOP 1 3 <q>:high <q> <q>:low LEFT COUNT <count>
  Heartbeat                   a thread: every ttl/3 SET tempest:worker:<id> 1 PX ttl + SADD
                              tempest:workers <ids>; every ttl the reaper; goodbye.lua at stop
  reap_dead_workers()         SMEMBERS, EXISTS each heartbeat, reap.lua per dead id (again with
                              the queues it names), 502 answers for the jobs not safe to retry
  Targets                     which respond_to may be answered: announced in tempest:fronts
                              (read at most once per batch, trusted 1 s) or allowed
"""

import logging
import select
import threading
import time

import redis

from . import codec, keys, redis_url
from .answers import AnswerPool, Limits
from .scripts import Script

log = logging.getLogger("tempest.worker")
reaper_log = logging.getLogger("tempest.reaper")

POP_TIMEOUT = 1  # seconds a pop or a bell wait blocks: how soon a stop is noticed


# ---- where answers may go ---------------------------------------------------------------------

class Targets:
    CACHE_MAX_AGE = 1.0

    def __init__(self, allow=()):
        self.allow = set(allow)
        self.announced = set()
        self.read_at = None

    def check(self, respond_to, now, taken_at):
        """"allowed", "refused" or "ask" (read tempest:fronts, update(), check again)."""
        if respond_to in self.allow:
            return "allowed"
        fresh = self.read_at is not None and now - self.read_at < self.CACHE_MAX_AGE
        if respond_to in self.announced:
            return "allowed" if fresh else "ask"
        if self.read_at is None or self.read_at < taken_at or not fresh:
            return "ask"
        return "refused"

    def update(self, announced, now):
        if announced is not None:
            self.announced = set(announced)
        self.read_at = now


def fetch_announced(conn):
    """TIME then ZRANGEBYSCORE tempest:fronts <now ms> +inf: the endpoints announced now, by
    Redis's clock (on a raw redis.Connection or a redis.Redis)."""
    def cmd(*a):
        if isinstance(conn, redis.Redis):
            return conn.execute_command(*a)
        conn.send_command(*a)
        return conn.read_response()
    try:
        t = cmd("TIME")
        now_ms = int(t[0]) * 1000 + int(t[1]) // 1000
        members = cmd("ZRANGEBYSCORE", keys.FRONTS, now_ms, "+inf", "LIMIT", 0, 4096)
    except redis.exceptions.ResponseError:
        return None
    return [m.decode("utf-8", "replace") for m in members]


# ---- job sources ----------------------------------------------------------------------------

class PlainSource:
    """--mode plain: at-most-once, BLMPOP over the three lists (BLPOP on a Redis before 7.0)."""

    def __init__(self, conn, queue, stopping):
        self.conn, self.queue, self.stopping = conn, queue, stopping
        self.lists = keys.lists(queue)
        self.blmpop = True

    def next(self, count):
        c = self.conn
        if self.blmpop:
            c.send_command("BLMPOP", POP_TIMEOUT, 3, *self.lists, "LEFT", "COUNT", count)
        else:
            c.send_command("BLPOP", *self.lists, POP_TIMEOUT)
        try:
            r = c.read_response()
        except redis.exceptions.ResponseError as e:
            if self.blmpop and str(e).lower().startswith("unknown command"):
                log.info("Redis has no BLMPOP (before 7.0): using BLPOP")
                self.blmpop = False
                return []
            raise
        if not r:
            return []
        jobs = r[1]
        return list(jobs) if isinstance(jobs, list) else [jobs]

    def handled(self, job, answers):
        pass

    def settle(self):
        pass

    def lost(self):
        pass

    def stop(self):
        pass


class ReliableSource:
    """reliable (the default): at-least-once, take.lua into tempest:processing:<id>."""

    BELL_GRACE = 3.0  # longer than the front's once-a-second check of tempest:workers

    def __init__(self, conn, queue, worker_id, ttl_ms, stopping, on_cancelled=None, url=None):
        self.conn, self.queue, self.id, self.stopping = conn, queue, worker_id, stopping
        self.started = time.monotonic()
        self.on_cancelled = on_cancelled or (lambda n: None)
        self.processing = keys.processing(worker_id)
        self.take_keys = keys.lists(queue) + [self.processing, keys.heartbeat(worker_id), keys.WORKERS,
                                              keys.bell(queue)]
        self.bell_keys = [keys.bell(queue), keys.wake(worker_id)]
        self.ttl_ms = ttl_ms
        self.take = Script("take")
        self.loaded = False
        self.pending_replies = 0  # LREM/HDEL written, replies not read yet
        self.watch = QueueWatch(url, queue, self.bell_keys, keys.wake(worker_id)) if url else None

    def next(self, count):
        jobs = self._take_once(count)
        if jobs or self.stopping():
            return jobs
        # Until a bell token (or the lane's own wake token), a job on <queue> without one (once
        # the watch is on), or 1 s.
        self.settle()
        if self.watch:
            woke = self.watch.wait(self.conn)
        else:
            self.conn.send_command("BLPOP", *self.bell_keys, POP_TIMEOUT)
            woke = "token" if self.conn.read_response() else "timeout"
        if self.stopping():
            return []
        jobs = self._take_once(count)
        # No token, yet jobs: a front that rings no bell (not in the lane's first seconds: a
        # Tempest front starts ringing within a second of a queue's first reliable worker).
        if woke == "timeout" and jobs and self.watch and time.monotonic() - self.started > self.BELL_GRACE:
            self.watch.enable()
        return jobs

    def _take_once(self, count):
        c = self.conn
        if not self.loaded:
            self.settle()
            self.take.load(c)
            self.loaded = True
        c.send_packed_command(c.pack_commands([
            self.take.args(self.take_keys, [count, self.ttl_ms, self.id, self.queue]),
            ("LRANGE", self.processing, 1, -1),
            ("EXISTS", keys.CANCELLED),
        ]))
        self.settle()  # the LREMs written before
        replies = []
        for _ in range(3):
            try:
                replies.append(c.read_response())
            except redis.exceptions.ResponseError as e:
                replies.append(e)
        taken, jobs, cancelled = replies
        if isinstance(taken, redis.exceptions.NoScriptError):
            self.loaded = False  # SCRIPT FLUSH: load again
            return []
        if isinstance(taken, Exception):
            raise taken
        if not isinstance(jobs, list):
            raise redis.exceptions.ResponseError("unexpected reply to the take script")
        if cancelled == 1 and jobs:
            jobs = self._drop_cancelled(jobs)
        return jobs

    def _drop_cancelled(self, jobs):
        """Jobs whose <respond_to>/<id> is in tempest:cancelled are dropped unstarted (8.5)."""
        marks = []
        for payload in jobs:
            try:
                j = codec.decode_job(payload)
            except codec.BadJob:
                continue
            if j.respond_to:
                marks.append((keys.cancel_field(j.respond_to, j.id), payload))
        if not marks:
            return jobs
        self.conn.send_command("HMGET", keys.CANCELLED, *[m[0] for m in marks])
        found = self.conn.read_response()
        dropped = [m for m, f in zip(marks, found) if f is not None]
        if not dropped:
            return jobs
        self.conn.send_command("HDEL", keys.CANCELLED, *[m[0] for m in dropped])
        self.pending_replies += 1
        gone = {id(m[1]) for m in dropped}
        log.debug("%d cancelled job(s) dropped unstarted", len(dropped))
        self.on_cancelled(len(dropped))
        return [j for j in jobs if id(j) not in gone]

    def handled(self, job, answers):
        answers.flush_out()  # the answer is out before the job leaves processing
        self.conn.send_command("LREM", self.processing, 1, job)
        self.pending_replies += 1

    def settle(self):
        while self.pending_replies > 0:
            self.pending_replies -= 1
            try:
                self.conn.read_response()
            except redis.exceptions.ResponseError:
                pass

    def lost(self):
        self.pending_replies = 0
        self.loaded = False

    def stop(self):
        if self.watch:
            self.watch.close()
        self.settle()
        self.conn.send_command("DEL", self.processing)
        self.conn.read_response()


class QueueWatch:
    """The wait of a reliable lane that found no job, for fronts that ring no bell (the 2012
    one): as src/worker/queue_watch.hpp, once enabled, a second connection keeps
    `BLMOVE <queue> <queue> LEFT LEFT 1` pending (a wait that leaves the list as it is) while the
    lane's connection blocks in `BLPOP <queue>:bell tempest:wake:<id> 1`; when the watch returns a
    job it pushes a token on tempest:wake:<id> (PEXPIRE 10 s), which ends the BLPOP at once. A
    Redis without BLMOVE (before 6.2) turns it off for good; a lost watch connection is retried
    at most once a second."""

    def __init__(self, url, queue, bell_keys, wake):
        self.url, self.queue, self.bell_keys, self.wake = url, queue, bell_keys, wake
        self.conn = None
        self.pending = False     # a BLMOVE was sent, its reply not read
        self.enabled = False     # bell-less jobs were seen
        self.off = False         # this Redis has no BLMOVE
        self.retry_after = 0.0

    def enable(self):
        if not self.enabled:
            self.enabled = True
            log.info("jobs arrive on %r without bell tokens (a front that rings no bell, such as the 2012 one): "
                     "watching the list itself too", self.queue)

    def wait(self, main):
        """"token" or "timeout" (no token came); main's BLPOP reply has been read."""
        armed = self._arm()
        if armed and self.conn.can_read(0):  # the reply of a BLMOVE sent at an earlier wait
            if self._read():
                return "token"
            armed = self._arm()
        main.send_command("BLPOP", *self.bell_keys, POP_TIMEOUT)
        armed = armed and self.pending
        while armed:
            if main.can_read(0):
                break
            try:
                r, _, _ = select.select([main._sock, self.conn._sock], [], [], POP_TIMEOUT + 0.5)
            except (OSError, ValueError, AttributeError):
                break
            if not r or main._sock in r:
                break
            armed = False
            if self._read():
                self._ring()  # ends the BLPOP at once
            elif self.conn is not None and not self.off:
                armed = self._arm() and self.pending  # timed out empty: watch on
        reply = main.read_response()
        if armed and self.conn is not None and self.conn.can_read(0):
            self._read()  # both fired: no stale reply left
        return "token" if reply else "timeout"

    def _arm(self):
        if not self.enabled or self.off:
            return False
        try:
            if self.conn is None:
                if time.monotonic() < self.retry_after:
                    return False
                self.conn = redis_url.connection(self.url)
                self.conn.connect()
                self.pending = False
            if not self.pending:
                self.conn.send_command("BLMOVE", self.queue, self.queue, "LEFT", "LEFT", POP_TIMEOUT)
                self.pending = True
            return True
        except (redis.exceptions.RedisError, OSError) as e:
            self._drop(e)
            return False

    def _read(self):
        try:
            r = self.conn.read_response()
        except redis.exceptions.ResponseError as e:
            log.info("Redis refused BLMOVE (%s): jobs pushed without a bell token (the 2012 front) wait up to 1 s",
                     e)
            self.off = True
            self.close()
            return False
        except (redis.exceptions.RedisError, OSError) as e:
            self._drop(e)
            return False
        self.pending = False
        return r is not None  # nil: timed out with <queue> empty

    def _ring(self):
        try:
            self.conn.send_packed_command(self.conn.pack_commands([("RPUSH", self.wake, "1"),
                                                                   ("PEXPIRE", self.wake, 10000)]))
            self.conn.read_response()
            self.conn.read_response()
        except (redis.exceptions.RedisError, OSError) as e:
            self._drop(e)

    def _drop(self, why):
        log.debug("queue watch connection lost (%s); the bell alone wakes this lane for now", why)
        self.close()
        self.retry_after = time.monotonic() + 1.0

    def close(self):
        if self.conn is not None:
            self.conn.disconnect()
        self.conn = None
        self.pending = False


# ---- heartbeat and reaper ---------------------------------------------------------------------

class Heartbeat:
    """Keeps the lanes' ids alive (9.1), reaps dead workers every ttl (9.3), says goodbye."""

    def __init__(self, client, ids, ttl_ms, reap_options):
        self.client, self.ids, self.ttl_ms = client, list(ids), ttl_ms
        self.reap_options = reap_options
        self.goodbye_script = Script("goodbye")
        self.reap_script = Script("reap")
        self._stop = threading.Event()
        self._down_logged = False
        self.thread = threading.Thread(target=self._run, name="tempest-heartbeat", daemon=True)
        self.thread.start()

    def stop(self):
        self._stop.set()
        self.thread.join(timeout=10)
        self.client.close()

    def _run(self):
        next_reap = time.monotonic()  # once at start: leftovers of earlier deaths
        while not self._stop.is_set():
            if self.beat() and time.monotonic() >= next_reap:
                try:
                    reap_dead_workers(self.client, self.reap_script, **self.reap_options)
                except redis.exceptions.RedisError as e:
                    reaper_log.warning("reaping dead workers failed: %s", e)
                next_reap = time.monotonic() + self.ttl_ms / 1000
            self._stop.wait(self.ttl_ms / 3000)
        self.goodbye()

    def beat(self):
        try:
            p = self.client.pipeline(transaction=False)
            for i in self.ids:
                p.set(keys.heartbeat(i), "1", px=self.ttl_ms)
            p.sadd(keys.WORKERS, *self.ids)
            p.execute()
            if self._down_logged:
                reaper_log.info("heartbeat: connected to Redis again")
            self._down_logged = False
            return True
        except redis.exceptions.RedisError as e:
            if not self._down_logged:
                reaper_log.warning("heartbeat: %s; retrying", e)
            self._down_logged = True
            return False

    def goodbye(self):
        for i in self.ids:
            try:
                r = self.goodbye_script.run(self.client, [keys.processing(i), keys.heartbeat(i), keys.WORKERS], [i])
                if r == 0:
                    reaper_log.warning("worker %s stops with jobs in flight; the next reaper hands them on", i)
            except redis.exceptions.RedisError as e:
                reaper_log.warning("worker %s: goodbye failed: %s", i, e)


def reap_dead_workers(client, script=None, max_attempts=3, answer_password="", answer_allow=(),
                      answer_connect_timeout=0.5, answer_timeout=1.0):
    """Hands on the jobs of every reliable worker whose heartbeat expired (9.3), on a
    redis.Redis client. Returns {"workers": [...], "requeued": n, "dead_lettered": n,
    "answered_unsafe": n}."""
    script = script or Script("reap")
    out = {"workers": [], "requeued": 0, "dead_lettered": 0, "answered_unsafe": 0}
    members = [m.decode() for m in client.smembers(keys.WORKERS)]
    if not members:
        return out
    p = client.pipeline(transaction=False)
    for i in members:
        p.exists(keys.heartbeat(i))
    dead = [i for i, alive in zip(members, p.execute()) if not alive]
    targets = None
    for worker_id in dead:
        rep = _run_reap(client, script, worker_id, max_attempts)
        if not isinstance(rep, list) or not rep or (isinstance(rep[0], int) and rep[0] < 0):
            continue
        out["workers"].append(worker_id)
        out["requeued"] += rep[0]
        out["dead_lettered"] += rep[1]
        unsafe = rep[2:]
        if unsafe and targets is None:
            targets = Targets(answer_allow)
            targets.update(fetch_announced(client), time.monotonic())
        pool = AnswerPool(answer_password, Limits(answer_connect_timeout, answer_timeout, answer_timeout, 64 << 20))
        for payload in unsafe:
            out["answered_unsafe"] += 1
            try:
                j = codec.decode_job(payload)
            except codec.BadJob:
                reaper_log.warning("a job not safe to retry is not readable; dropped: %.120r", payload)
                continue
            if not j.respond_to:
                continue
            now = time.monotonic()
            if targets.check(j.respond_to, now, now - Targets.CACHE_MAX_AGE) != "allowed":
                reaper_log.warning("[j%s] respond_to %r is neither announced by a front nor allowed: no 502 sent",
                                   j.id, j.respond_to)
                continue
            pool.send(j.respond_to, j.action, j.id, codec.unsafe_retry_answer(j.action), flush=True)
        pool.collect(final=True)
        pool.close()
        reaper_log.info("reaped dead worker %s: %d jobs re-queued, %d dead-lettered, %d answered 502 "
                        "(not safe to retry)", worker_id, rep[0], rep[1], len(unsafe))
    return out


def _run_reap(client, script, worker_id, max_attempts):
    queues = []
    for _ in range(4):
        k = [keys.processing(worker_id), keys.heartbeat(worker_id), keys.WORKERS]
        a = [worker_id, max_attempts, keys.BELL_KEEP]
        for q in queues:
            k += keys.lists(q) + [keys.bell(q), keys.attempts(q), keys.dead(q)]
            a.append(q)
        rep = script.run(client, k, a)
        if isinstance(rep, list) and rep and rep[0] == -2:
            queues += [q.decode() for q in rep[1:]]
            continue
        return rep
    raise redis.exceptions.ResponseError(f"the reap script of worker {worker_id} keeps naming new queues")
