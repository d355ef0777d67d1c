"""Priorities, reliable delivery (at-least-once), dead letters and deadlines (docs/protocol.md
section 8), with real redis-server, real C++ workers (build/examples/echo_worker) and either the
real front or a fake answer endpoint (FakeFront below: records every `url <id> <json>` it gets),
so that most cases craft their jobs with redis-py and do not depend on the front's encoder.

Keys: <queue>:high, <queue>, <queue>:low, <queue>:bell, <queue>:dead, tempest:workers,
tempest:worker:<id>, tempest:processing:<id> (src/core/queue/keys.hpp).
"""

import json
import socket
import threading
import time
import unittest

from support.harness import (LOOPBACK, TempestCase, FakeWorker, http_request, run_tempest,
                             wait_until)

TTL = 1.0             # --heartbeat-ttl of the workers here
BOUND = 2 * TTL       # a killed worker's jobs are back on the queue within this (+ a round trip)
MARGIN = 1.5          # scheduling slack on a shared 2-core machine


class FakeFront:
    """A tiny RESP server that answers +OK to everything and records `url <id> <json>` calls
    as (time, job_id, decoded answer), in arrival order."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind((LOOPBACK, 0))
        self.sock.listen(16)
        self.address = f"{LOOPBACK}:{self.sock.getsockname()[1]}"
        self.answers = []
        self.lock = threading.Lock()
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self):
        self.closed = True
        self.sock.close()

    def ids(self):
        with self.lock:
            return [a[1] for a in self.answers]

    def answer_for(self, job_id):
        with self.lock:
            for a in self.answers:
                if a[1] == job_id:
                    return a[2]
        return None

    def _accept(self):
        while not self.closed:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        f = conn.makefile("rb")
        try:
            while True:
                line = f.readline()
                if not line:
                    return
                if not line.startswith(b"*"):
                    conn.sendall(b"+OK\r\n")
                    continue
                args = []
                for _ in range(int(line[1:])):
                    n = int(f.readline()[1:])
                    args.append(f.read(n + 2)[:-2])
                if args and args[0].lower() == b"url" and len(args) == 3:
                    with self.lock:
                        self.answers.append((time.monotonic(), int(args[1]), json.loads(args[2])))
                conn.sendall(b"+OK\r\n")
        except (OSError, ValueError):
            return
        finally:
            conn.close()


def make_job(respond_to, job_id, path="/", query="", method="GET", retry=True, deadline=None):
    request = {"method": method, "url": path + ("?" + query if query else ""), "path": path,
               "query": query, "headers": {"host": "x"}, "remote_addr": "127.0.0.1:1",
               "http_version": "1.1", "retry": retry}
    if deadline is not None:
        request["deadline"] = deadline
    return json.dumps(["url", [request], respond_to, job_id])


def now_ms():
    return int(time.time() * 1000)


class ReliableCase(TempestCase):
    def setUp(self):
        self.redis = self.start_redis()
        self.r = self.redis.client()
        self.fake = FakeFront()
        self.addCleanup(self.fake.close)

    def worker(self, *flags, mode="reliable", wait_ready=True):
        # The fake front announces nothing (like the 2012 one): allowed explicitly.
        return self.start_worker("echo_worker", self.redis, "tempest", "--mode", mode,
                                 "--heartbeat-ttl", f"{int(TTL * 1000)}ms",
                                 "--answer-allow", self.fake.address, *flags,
                                 wait_ready=wait_ready)

    def processing_of(self, worker):
        """The jobs a worker process holds (all its lanes; the batch headers left out)."""
        keys = self.r.keys(f"tempest:processing:*:{worker.pid}:*")
        return [e for k in keys for e in self.r.lrange(k, 0, -1) if not e.startswith(b"\0")]

    def wait_holding(self, worker, timeout=5.0):
        return wait_until(lambda: self.processing_of(worker), timeout,
                          message=f"worker {worker.pid} to hold a job")


class Priorities(ReliableCase):
    def check_strict_order(self, mode):
        fake = self.fake.address
        for i in range(10):  # a backlog of slow low jobs
            self.r.rpush("tempest:low", make_job(fake, 1000 + i, "/sleep", "ms=200"))
        self.worker("--batch", "1", mode=mode, wait_ready=False)
        wait_until(lambda: len(self.fake.ids()) >= 1, 5, message="the first low answer")
        with self.r.pipeline(transaction=True) as p:  # both at once: no worker sees one only
            p.rpush("tempest", *[make_job(fake, 100 + i) for i in range(3)])
            p.rpush("tempest:high", *[make_job(fake, 1 + i) for i in range(3)])
            p.rpush("tempest:bell", *["1"] * 6)
            p.execute()
        wait_until(lambda: len(self.fake.ids()) == 16, 10, message="every answer")
        ids = self.fake.ids()
        # At most one more low job (taken before the push), then high, normal, the rest of low.
        start = 1 if ids[1] < 1000 else 2
        self.assertLessEqual(start, 2, ids)
        self.assertEqual(ids[start:start + 6], [1, 2, 3, 100, 101, 102], ids)
        self.assertEqual(ids[start + 6:], sorted(ids[start + 6:]), ids)
        self.assertTrue(all(i >= 1000 for i in ids[start + 6:]), ids)

    def test_reliable_worker_takes_the_highest_priority_first(self):
        self.check_strict_order("reliable")

    def test_plain_worker_takes_the_highest_priority_first(self):
        self.check_strict_order("plain")

    def test_original_blpop_workers_still_get_normal_jobs(self):
        front = self.start_front(self.redis, "--timeout", "5s")
        result = {}
        t = threading.Thread(target=lambda: result.setdefault(
            "resp", http_request(front.http_port, "GET", "/plain")))
        t.start()
        job = FakeWorker(self.redis).take_job()  # BLPOP tempest, the 2012 way
        self.assertEqual(job.request["path"], "/plain")
        job.answer([200, {"Content-Type": "text/plain"}, "old school"])
        t.join(10)
        self.assertEqual(result["resp"].status, 200)
        self.assertEqual(result["resp"].body, b"old school")


class WorkerDeath(ReliableCase):
    def test_killed_worker_job_is_answered_by_another(self):
        front = self.start_front(self.redis, "--timeout", "20s")
        a = self.worker()
        result = {}
        t = threading.Thread(target=lambda: result.setdefault(
            "resp", http_request(front.http_port, "GET", "/sleep?ms=1500")))
        t.start()
        self.wait_holding(a)
        b = self.worker()
        a.kill()
        killed = time.monotonic()
        wait_until(lambda: self.processing_of(b), BOUND + MARGIN,
                   message="the other worker to take the job back")
        taken_after = time.monotonic() - killed
        t.join(20)
        resp = result["resp"]
        self.assertEqual(resp.status, 200)
        self.assertEqual(json.loads(resp.body)["worker_pid"], b.pid)
        self.assertLessEqual(taken_after, BOUND + MARGIN)
        self.assertEqual(front.counter("answers_accepted"), 1)
        self.assertEqual(self.r.smembers("tempest:workers"),
                         {k.decode().split(":", 2)[2].encode()
                          for k in self.r.keys(f"tempest:worker:*:{b.pid}:*")})

    def test_job_not_safe_to_retry_gets_a_502(self):
        self.r.rpush("tempest", make_job(self.fake.address, 77, "/sleep", "ms=30000",
                                         method="POST", retry=False))
        a = self.worker()
        self.wait_holding(a)
        self.worker()
        a.kill()
        answer = wait_until(lambda: self.fake.answer_for(77), BOUND + MARGIN,
                            message="the 502 answer")
        self.assertEqual(answer, [502, {"Content-Type": "text/plain"},
                                  "the worker handling this request died; it is not safe to retry"])
        self.assertEqual(self.r.llen("tempest"), 0)

    def test_job_that_keeps_killing_workers_goes_to_dead_letters(self):
        self.r.rpush("tempest", make_job(self.fake.address, 99, "/sleep", "ms=60000"))
        for attempt in range(3):
            w = self.worker()
            self.wait_holding(w, BOUND + MARGIN + 2)
            w.kill()
        last = self.worker()
        wait_until(lambda: self.r.llen("tempest:dead") == 1, BOUND + MARGIN,
                   message="the job in tempest:dead")
        last.stop()
        self.assertEqual(self.r.llen("tempest"), 0)
        out = run_tempest("jobs", "dead", "--redis", self.redis.url, "--json")
        self.assertEqual(out.returncode, 0, out.stderr)
        records = json.loads(out.stdout)
        self.assertEqual(len(records), 1)
        self.assertEqual(records[0]["attempts"], 3)
        self.assertEqual(json.loads(records[0]["job"])[3], 99)
        text = run_tempest("jobs", "dead", "--redis", self.redis.url)
        self.assertIn("GET /sleep?ms=60000", text.stdout)
        out = run_tempest("jobs", "retry", "--redis", self.redis.url, "1")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("re-queued 1 job", out.stdout)
        self.assertEqual(self.r.llen("tempest:dead"), 0)
        self.assertEqual(json.loads(self.r.lindex("tempest", 0))[3], 99)
        self.assertEqual(run_tempest("jobs", "retry", "--redis", self.redis.url, "1").returncode, 2)

    def test_stopped_worker_unregisters(self):
        w = self.worker()
        wait_until(lambda: self.r.smembers("tempest:workers"), 5, message="registration")
        w.stop()
        self.assertEqual(self.r.smembers("tempest:workers"), set())
        self.assertEqual(self.r.keys("tempest:processing:*"), [])


class NewWorkerOnAPlainQueue(ReliableCase):
    def test_a_worker_joining_before_the_front_rings_for_it_does_not_watch_the_list(self):
        # A Tempest front rings no bell while tempest:workers is empty (plain workers only) and
        # checks once a second: the first jobs a new reliable lane finds came without a token.
        # That must not make it take the front for a bell-less one (protocol.md 9.2).
        w = self.worker("--batch", "1", "--log-level", "info")
        for i in range(5):
            self.r.rpush("tempest", make_job(self.fake.address, 200 + i))
            time.sleep(0.3)
        wait_until(lambda: len(self.fake.ids()) == 5, 10, message="the five answers")
        time.sleep(0.5)
        self.assertNotIn("watching the list itself", w.log())


class FrontWithoutBell(ReliableCase):
    """The 2012 front RPUSHes <queue> and rings no bell (<queue>:bell). A reliable worker used
    to find such jobs only when its BLPOP on the bell timed out: up to 1 s a job."""

    def answered_in_turn(self, ids):
        """Pushes one bell-less job at a time, waiting for each answer; returns the seconds."""
        start = time.monotonic()
        for job_id in ids:
            self.r.rpush("tempest", make_job(self.fake.address, job_id))
            wait_until(lambda: self.fake.answer_for(job_id), 10, interval=0.002,
                       message=f"the answer to job {job_id}")
        return time.monotonic() - start

    def learn(self):
        """Lets a new worker learn that this front rings no bell: past its first 3 s (while a
        Tempest front may not ring for it yet), a job found after a 1 s poll."""
        self.worker("--batch", "1")
        time.sleep(3.2)
        self.answered_in_turn([1])  # this one may wait for the 1 s poll

    def test_reliable_worker_takes_jobs_pushed_without_a_bell_at_once(self):
        self.learn()
        elapsed = self.answered_in_turn(range(2, 22))
        # Before: ~1 s each (20 s). Now a few ms each; the bound leaves room for a loaded machine.
        self.assertLess(elapsed, 4.0, f"20 bell-less jobs one after the other took {elapsed:.1f}s")
        self.assertEqual(self.r.llen("tempest"), 0)
        wait_until(lambda: self.r.keys("tempest:wake:*") == [], 5,
                   message="every wake token taken")

    def test_jobs_with_a_bell_still_wake_one_worker_and_keep_priorities(self):
        # A watching lane still takes the highest priority first (the take script decides).
        self.learn()
        with self.r.pipeline(transaction=True) as p:
            p.rpush("tempest", make_job(self.fake.address, 100))
            p.rpush("tempest:high", make_job(self.fake.address, 10))
            p.execute()
        wait_until(lambda: len(self.fake.ids()) == 3, 10, message="both answers")
        self.assertEqual(self.fake.ids(), [1, 10, 100])


class Deadlines(ReliableCase):
    def test_expired_job_is_dropped_unanswered(self):
        self.r.rpush("tempest", make_job(self.fake.address, 1, deadline=now_ms() - 1000),
                     make_job(self.fake.address, 2, deadline=now_ms() + 60000))
        w = self.worker("--batch", "1")
        wait_until(lambda: 2 in self.fake.ids(), 5, message="the live job's answer")
        time.sleep(0.3)
        self.assertEqual(self.fake.ids(), [2])
        wait_until(lambda: not self.processing_of(w), 3, message="an empty processing list")


if __name__ == "__main__":
    unittest.main()
