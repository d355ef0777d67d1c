"""tempest.Worker: takes jobs from the Redis queue the front fills, calls your handlers, and
answers the front directly on its answer endpoint (docs/protocol.md). The Python twin of the
C++ library (include/tempest/worker.hpp, src/worker/lane.cpp).

    worker = Worker(redis="redis://127.0.0.1:6379/0", queue="tempest")

    @worker.on("url")                       # HTTP requests
    def hello(req):
        return 200, {"Content-Type": "text/plain"}, "Hello world!"

    @worker.on("resize")                    # any other action: the value returned is the answer
    def resize(job):
        return {"ok": True}

    worker.run()                            # until SIGTERM/SIGINT or worker.stop()

Handlers: a "url" handler gets a Request (codec.py) and returns (status, headers, body) or
(status, headers), a str/bytes (200) or None after answering through its answer object (a
second parameter: `def h(req, answer): answer.send(200, {}, "hi")`). Body: str, bytes (sent as
text when UTF-8, else {"base64": ...}) or None. An exception -> 500 (logged); no "url" handler
-> 501. Another action's handler gets the Job (.action .args .id .respond_to); what it returns
(not None) is sent as JSON; an exception -> {"error": "internal error"}.

One lane (loop) per --concurrency, each a thread with its own connections (handlers must then be
thread-safe; with 1 the lane runs in the thread that called run()):
  next    up to count jobs (reliable: take.lua; plain: BLMPOP; reliable.py), count sized from
          the lane's time per job (clamp(batch_time / time per job, 1, batch), as batch_size.hpp)
  handle  per job: decode; drop it unhandled when its respond_to is neither announced in
          tempest:fronts nor in answer_allow (counted, logged at most every 10 s); drop it
          unstarted when its deadline passed (counted); call the handler; queue the answer on
          the endpoint's connection (answers.py), written at once when the batch is a single job
          or has run over 500 us (else with the batch); in a long batch, LREM each handled job
  collect read the +OK/-ERR replies, each endpoint waited for at most answer_reply_wait
Redis lost -> logged once, reconnected with backoff 100 ms doubling to 500 ms.
"""

import argparse
import inspect
import logging
import os
import signal
import socket
import sys
import threading
import time
import traceback

import redis

from . import codec, keys, redis_url
from .answers import AnswerPool, Limits
from .publisher import Publisher
from .reliable import Heartbeat, PlainSource, ReliableSource, Targets, fetch_announced

log = logging.getLogger("tempest.worker")

FLUSH_DELAY = 0.0005  # a batch running longer than this writes each answer at once
BACKOFF_MIN, BACKOFF_MAX = 0.1, 0.5


class Answer:
    """The way a handler answers its job itself (zero, one or several times; a Tempest front
    takes the first). Valid during the handler call, in its thread."""

    def __init__(self, lane, job):
        self._lane, self._job = lane, job
        self.count = 0

    @property
    def wanted(self):
        return bool(self._job.respond_to)

    def send(self, status, headers=None, body=None):
        """A "url" answer: [status, headers, body]. A body or headers that cannot be encoded
        raise TypeError (a handler's return value: answered 500 and logged)."""
        data, dropped = codec.encode_url_answer(status, headers, body)
        if dropped:
            log.warning("[j%s] dropped %d invalid response headers", self._job.id, dropped)
        self.send_json(data)

    def send_value(self, value):
        """Any JSON value (another action's answer)."""
        self.send_json(codec.dumps(value))

    def send_json(self, data):
        """Already-encoded JSON text (str or bytes), as is."""
        if not self.wanted:
            return
        self._lane.send_answer(self._job, data.encode() if isinstance(data, str) else data)
        self.count += 1


class Worker:
    def __init__(self, redis=None, queue="tempest", *, concurrency=1, mode="reliable", batch=128,
                 batch_time=0.001, heartbeat_ttl=3.0, max_attempts=3, answer_password=None,
                 answer_allow=(), answer_connect_timeout=0.5, answer_timeout=5.0,
                 answer_reply_wait=0.1, answer_buffer=8 << 20):
        if mode not in ("reliable", "plain"):
            raise ValueError(f"mode {mode!r} is not reliable or plain")
        self.redis_url = redis or redis_url.default_url()
        redis_url.parse_redis_url(self.redis_url)  # ValueError now rather than in run()
        self.queue = queue
        self.concurrency = max(1, int(concurrency))
        self.mode = mode
        self.batch, self.batch_time = max(1, int(batch)), batch_time
        self.heartbeat_ttl_ms = int(heartbeat_ttl * 1000)
        self.max_attempts = max_attempts
        self.answer_password = answer_password if answer_password is not None else \
            os.environ.get("TEMPEST_ANSWER_PASSWORD", "")
        self.answer_allow = [a for a in answer_allow if a]
        self.limits = Limits(answer_connect_timeout, answer_timeout, answer_reply_wait, answer_buffer)
        self.handlers = {}         # action -> (fn, wants_answer)
        self._stop = threading.Event()
        self._local = threading.local()
        self._counter_lock = threading.Lock()
        self.expired_jobs = 0      # dropped unstarted: deadline passed
        self.cancelled_jobs = 0    # dropped unstarted: the front cancelled them
        self.untrusted_jobs = 0    # dropped unhandled: respond_to neither announced nor allowed
        self.handled_jobs = 0
        self.ids = []

    # ---- handlers
    def on(self, action, fn=None):
        """Registers fn for action ("url" for HTTP); usable as a decorator."""
        def register(f):
            try:
                params = [p for p in inspect.signature(f).parameters.values()
                          if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty]
                wants_answer = len(params) >= 2
            except (TypeError, ValueError):
                wants_answer = False
            self.handlers[action] = (f, wants_answer)
            return f
        return register(fn) if fn is not None else register

    def route(self, fn):
        """@worker.route: the same as @worker.on("url")."""
        return self.on("url", fn)

    # ---- publish
    def publish(self, channel, data, event=None):
        """Records and publishes one Server-Sent Event (publisher.py) on this thread's
        connection; returns the history entry id."""
        p = getattr(self._local, "publisher", None)
        if p is None:
            p = self._local.publisher = Publisher(self.redis_url)
        return p.publish(channel, data, event)

    # ---- running
    def stop(self):
        """Thread-safe and signal-safe: run() returns after the current batch is answered."""
        self._stop.set()

    def stopping(self):
        return self._stop.is_set()

    def _count(self, name, n=1):
        with self._counter_lock:
            setattr(self, name, getattr(self, name) + n)

    def run(self, install_signals=None):
        """The loop; blocks until stop() (or SIGTERM/SIGINT when run in the main thread).
        Returns 0, or 1 when Redis refused AUTH/SELECT or a lane died of an unexpected error."""
        in_main = threading.current_thread() is threading.main_thread()
        restore = {}
        if install_signals or (install_signals is None and in_main):
            for s in (signal.SIGTERM, signal.SIGINT):
                restore[s] = signal.signal(s, lambda *_: self.stop())
        self.fatal = False
        reliable = self.mode == "reliable"
        host = socket.gethostname() or "localhost"
        self.ids = [f"{host}:{os.getpid()}:{i}" for i in range(self.concurrency)] if reliable else []
        log.info("taking jobs from %r at %s (concurrency %d, %s)", self.queue, self.redis_url, self.concurrency,
                 f"reliable: ids {host}:{os.getpid()}:0.., heartbeat {self.heartbeat_ttl_ms} ms" if reliable
                 else "plain")
        beats = None
        if reliable:
            beats = Heartbeat(redis_url.client(self.redis_url), self.ids, self.heartbeat_ttl_ms, {
                "max_attempts": self.max_attempts, "answer_password": self.answer_password,
                "answer_allow": self.answer_allow, "answer_connect_timeout": self.limits.connect_timeout,
                "answer_timeout": min(self.limits.timeout, self.heartbeat_ttl_ms / 3000)})
        try:
            lanes = [_Lane(self, i, self.ids[i] if reliable else None) for i in range(self.concurrency)]
            if self.concurrency == 1:
                lanes[0].run_guarded()
            else:
                threads = [threading.Thread(target=l.run_guarded, name=f"tempest-lane-{l.index}", daemon=True)
                           for l in lanes]
                for t in threads:
                    t.start()
                for t in threads:
                    while t.is_alive():
                        t.join(0.2)
        finally:
            if beats:
                beats.stop()  # after the lanes: their jobs are answered; goodbye
            for s, h in restore.items():
                signal.signal(s, h)
            self._stop.clear()
        log.info("stopped")
        return 1 if self.fatal else 0


class _Lane:
    def __init__(self, worker, index, worker_id):
        self.w, self.index, self.id = worker, index, worker_id
        self.conn = redis_url.connection(worker.redis_url)
        if worker_id:
            self.source = ReliableSource(self.conn, worker.queue, worker_id, worker.heartbeat_ttl_ms, worker.stopping,
                                         lambda n: worker._count("cancelled_jobs", n), url=worker.redis_url)
        else:
            self.source = PlainSource(self.conn, worker.queue, worker.stopping)
        self.answers = AnswerPool(worker.answer_password, worker.limits)
        self.targets = Targets(worker.answer_allow)
        self.per_job = 0.0
        self.batch, self.batch_started = [], 0.0
        self.backoff = BACKOFF_MIN
        self.down_logged = False
        self.untrusted_logged_at, self.untrusted_unlogged = None, 0
        self.unknown_actions = set()
        self._probe = None

    def run_guarded(self):
        try:
            self.run()
        except Exception:  # noqa: BLE001 - the lane's last resort, as the C++ run_lane
            log.critical("[w%d] stopped by an unexpected error:\n%s", self.index, traceback.format_exc())
            self.w.fatal = True
            self.w.stop()

    def next_count(self):
        if self.per_job <= 0:
            return min(self.w.batch, 16)
        n = self.w.batch_time / self.per_job
        return self.w.batch if n >= self.w.batch else max(1, int(n))

    def run(self):
        w = self.w
        while not w.stopping():
            try:
                self.batch = self.source.next(self.next_count())
            except redis.exceptions.AuthenticationError as e:
                log.error("[w%d] Redis refused AUTH: %s", self.index, e)
                w.fatal = True
                w.stop()
                break
            except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError) as e:
                self.redis_lost(e)
                continue
            except redis.exceptions.ResponseError as e:
                if not self.down_logged:
                    log.error("[w%d] taking jobs from %r failed: %s; retrying", self.index, w.queue, e)
                self.down_logged = True
                self.sleep_backoff()
                continue
            if self.down_logged:
                log.info("[w%d] Redis is back", self.index)
            self.down_logged, self.backoff = False, BACKOFF_MIN
            if not self.batch:
                continue
            self.batch_started = time.monotonic()
            for i, payload in enumerate(self.batch):
                self.handle(payload)
                if i + 1 < len(self.batch) and time.monotonic() - self.batch_started > FLUSH_DELAY:
                    self.on_redis(lambda: self.source.handled(payload, self.answers))
            per = max(1e-9, (time.monotonic() - self.batch_started) / len(self.batch))
            self.per_job = per if self.per_job <= 0 else self.per_job + (per - self.per_job) / 4
            self.answers.collect()
        self.answers.collect(final=True)
        self.on_redis(self.source.stop)
        self.answers.close()
        self.conn.disconnect()
        if self._probe is not None:
            self._probe.close()

    # ---- Redis
    def on_redis(self, f):
        try:
            f()
            return True
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError) as e:
            self.redis_lost(e)
            return False

    def redis_lost(self, e):
        if not self.down_logged:
            log.warning("[w%d] Redis: %s; reconnecting", self.index, e)
        self.down_logged = True
        self.conn.disconnect()
        self.source.lost()
        self.sleep_backoff()

    def sleep_backoff(self):
        self.w._stop.wait(self.backoff)
        self.backoff = min(self.backoff * 2, BACKOFF_MAX)

    # ---- jobs
    def handle(self, payload):
        try:
            job = codec.decode_job(payload)
        except codec.BadJob as e:
            log.warning("[w%d] skipping a malformed job (%s): %.120r", self.index, e, payload)
            return
        if job.respond_to and not self.trusted(job):
            return
        if job.deadline_passed():
            self.w._count("expired_jobs")
            log.debug("[w%d j%s] deadline passed before the job started; dropped", self.index, job.id)
            return
        entry = self.w.handlers.get(job.action)
        if job.action == "url":
            self.handle_request(job, entry)
        elif entry:
            self.handle_action(job, entry)
        elif job.action not in self.unknown_actions:
            self.unknown_actions.add(job.action)
            log.warning("[w%d j%s] no handler for action %r; such jobs are skipped", self.index, job.id, job.action)
        self.w._count("handled_jobs")

    def handle_request(self, job, entry):
        answer = Answer(self, job)
        try:
            req = codec.Request(job, self.is_cancelled)
        except codec.BadJob as e:
            log.warning("[w%d j%s] bad HTTP job: %s", self.index, job.id, e)
            return answer.send(*codec.BAD_REQUEST)
        if entry is None:
            return answer.send(*codec.NOT_IMPLEMENTED)
        fn, wants_answer = entry
        try:
            result = fn(req, answer) if wants_answer else fn(req)
            if result is None and answer.count:
                return
            status, headers, body = _as_response(result)
        except Exception:  # noqa: BLE001 - a handler's failure is its request's 500
            log.error("[w%d j%s] handler failed on %s %s:\n%s", self.index, job.id, req.method, req.url,
                      traceback.format_exc())
            if answer.count:
                return
            status, headers, body = codec.INTERNAL_ERROR
        try:
            answer.send(status, headers, body)
        except (TypeError, ValueError) as e:
            log.error("[w%d j%s] cannot encode the answer to %s %s: %s", self.index, job.id, req.method, req.url, e)
            answer.send(*codec.INTERNAL_ERROR)

    def handle_action(self, job, entry):
        fn, wants_answer = entry
        answer = Answer(self, job)
        try:
            result = fn(job, answer) if wants_answer else fn(job)
            if result is not None:
                answer.send_value(result)
            return
        except Exception:  # noqa: BLE001
            log.error("[w%d j%s] handler for %r failed:\n%s", self.index, job.id, job.action, traceback.format_exc())
        if answer.count == 0 and answer.wanted:
            answer.send_json(codec.ERROR_ANSWER)

    def send_answer(self, job, data):
        flush = len(self.batch) <= 1 or time.monotonic() - self.batch_started > FLUSH_DELAY
        self.answers.send(job.respond_to, job.action, job.id, data, flush)

    def is_cancelled(self, respond_to, job_id):
        """request.cancelled(): HEXISTS tempest:cancelled on a connection of its own."""
        try:
            if self._probe is None:
                self._probe = redis_url.client(self.w.redis_url, timeout=2.0)
            return bool(self._probe.hexists(keys.CANCELLED, keys.cancel_field(respond_to, job_id)))
        except redis.exceptions.RedisError as e:
            log.debug("[w%d] cannot ask Redis whether job %s was cancelled: %s", self.index, job_id, e)
            return False

    def trusted(self, job):
        now = time.monotonic()
        v = self.targets.check(job.respond_to, now, self.batch_started)
        if v == "ask":
            announced = None
            try:
                self.source.settle()
                announced = fetch_announced(self.conn)
            except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError) as e:
                self.redis_lost(e)
            self.targets.update(announced, now)
            v = self.targets.check(job.respond_to, now, self.batch_started)
        if v == "allowed":
            return True
        self.w._count("untrusted_jobs")
        self.untrusted_unlogged += 1
        if self.untrusted_logged_at is None or now - self.untrusted_logged_at >= 10:
            log.warning("[w%d j%s] respond_to %.100r is neither announced by a front (%s) nor in answer_allow: "
                        "job dropped unhandled (%d such job(s) since the last such line)", self.index, job.id,
                        job.respond_to, keys.FRONTS, self.untrusted_unlogged)
            self.untrusted_logged_at, self.untrusted_unlogged = now, 0
        return False


def _as_response(result):
    if isinstance(result, (str, bytes, bytearray)):
        return 200, {}, result
    if isinstance(result, tuple) and len(result) == 3:
        return result
    if isinstance(result, tuple) and len(result) == 2:
        return result[0], result[1], ""
    if isinstance(result, int) and not isinstance(result, bool):
        return result, {}, ""
    raise TypeError(f"a url handler returns (status, headers, body), (status, headers) or a body, "
                    f"not {type(result).__name__}")


# ---- the standard command line ------------------------------------------------------------------

def add_arguments(parser):
    """The standard worker flags (a subset of the C++ worker_options)."""
    parser.add_argument("--redis", default=redis_url.default_url(),
                        help="Redis holding the queue: redis://[:password@]host[:port][/db] or unix:/path[?db=N] "
                             "[default: $TEMPEST_REDIS, else %s]" % redis_url.DEFAULT_URL)
    parser.add_argument("--queue", default="tempest", help="Redis list the jobs are taken from [default: tempest]")
    parser.add_argument("--mode", choices=("reliable", "plain"), default="reliable",
                        help="reliable: at-least-once (in-flight jobs recorded, re-queued when a worker dies); "
                             "plain: at-most-once BLMPOP, the original way [default: reliable]")
    parser.add_argument("--plain", action="store_true", help="the same as --mode plain")
    parser.add_argument("--concurrency", type=int, default=1,
                        help="worker threads, each with its own connections [default: 1]")
    parser.add_argument("--batch", type=int, default=128, help="most jobs taken per round trip [default: 128]")
    parser.add_argument("--heartbeat-ttl", type=float, default=3.0,
                        help="reliable mode: seconds a silent worker is alive; its jobs re-queued within twice this "
                             "[default: 3]")
    parser.add_argument("--max-attempts", type=int, default=3,
                        help="reliable mode: worker deaths after which a job goes to <queue>:dead [default: 3]")
    parser.add_argument("--answer-password", default=None,
                        help="password sent with AUTH to the answer endpoints [default: $TEMPEST_ANSWER_PASSWORD]")
    parser.add_argument("--answer-allow", default="",
                        help="HOST:PORT,... answered although no front announces them (the 2012 front)")
    parser.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"),
                        help="[default: info]")
    return parser


def worker_from_args(args):
    logging.basicConfig(level=getattr(logging, args.log_level.upper()), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return Worker(redis=args.redis, queue=args.queue, concurrency=args.concurrency,
                  mode="plain" if args.plain else args.mode, batch=args.batch, heartbeat_ttl=args.heartbeat_ttl,
                  max_attempts=args.max_attempts, answer_password=args.answer_password,
                  answer_allow=[a.strip() for a in args.answer_allow.split(",") if a.strip()])


def main(argv=None):
    """python3 -m tempest.worker: answers every request with the --text given (a hello worker)."""
    parser = add_arguments(argparse.ArgumentParser(prog="python3 -m tempest.worker",
                                                   description="A Python Tempest worker that answers --text"))
    parser.add_argument("--text", default="Hello world!", help="the body of every answer")
    args = parser.parse_args(argv)
    worker = worker_from_args(args)
    worker.on("url", lambda req: (200, {"Content-Type": "text/plain"}, args.text))
    return worker.run()


if __name__ == "__main__":
    sys.exit(main())
