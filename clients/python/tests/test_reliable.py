"""Reliable delivery (docs/protocol.md 9), priorities, deadlines and cancellation (8), against the
real front: a worker process SIGKILLed while holding a job has it answered by another worker
after the ttl; a job not safe to retry is answered 502 by the reaper; high before normal before
low; a job past its deadline is dropped unstarted; a cancelled job is dropped unstarted and a
running handler sees request.cancelled()."""

import json
import os
import socket
import threading
import time

from fixtures import PYTHON, ClientCase, http, wait_until, wait_workers

from tempest import Worker

HOLDER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "holding_worker.py")


def in_thread(fn):
    out = {}
    t = threading.Thread(target=lambda: out.setdefault("r", fn()), daemon=True)
    t.start()
    return t, out


class RedeliveryTest(ClientCase):
    def holder(self, *extra):
        return self.spawn("holding_worker", [PYTHON, HOLDER, "--redis", self.redis.url, "--heartbeat-ttl", "0.6",
                                             *extra])

    def test_job_of_a_killed_worker_is_answered_by_another(self):
        front = self.front("--timeout", "20s")
        a = self.holder()
        wait_workers(self.redis, 1)
        t, out = in_thread(lambda: http(front, "GET", "/hold", timeout=20))
        c = self.redis.client()
        held = wait_until(lambda: c.lindex("held", 0), 5, message="worker A to start the job")
        self.assertEqual(held.decode(), f"{a.proc.pid} GET")
        a.kill()  # SIGKILL: no goodbye, its processing list stays
        self.assertEqual(c.llen(f"tempest:processing:{socket.gethostname()}:{a.proc.pid}:0"), 2,
                         "header + the job in flight")
        b = self.holder()
        killed_at = time.monotonic()
        wait_until(lambda: c.llen("held") >= 2, 10, message="worker B to get the re-queued job")
        self.assertLess(time.monotonic() - killed_at, 5, "back on the queue within ~2 x ttl (+ start-up)")
        self.assertEqual(c.lindex("held", 1).decode(), f"{b.proc.pid} GET")
        b.kill()
        # a third worker answers (it is re-held by each: retry-safe GET)
        w = Worker(redis=self.redis.url, heartbeat_ttl=0.6)
        w.on("url", lambda req: (200, {}, "third"))
        self.thread_worker(w)
        t.join(15)
        self.assertEqual(out["r"][0], 200)
        self.assertEqual(out["r"][2], b"third")

    def test_unsafe_job_of_a_killed_worker_is_answered_502(self):
        front = self.front("--timeout", "20s")
        a = self.holder()
        wait_workers(self.redis, 1)
        t, out = in_thread(lambda: http(front, "POST", "/hold", body=b"x", timeout=20))
        c = self.redis.client()
        wait_until(lambda: c.lindex("held", 0), 5, message="worker A to start the job")
        a.kill()
        w = Worker(redis=self.redis.url, heartbeat_ttl=0.6)  # its heartbeat thread reaps
        w.on("url", lambda req: (200, {}, "must not run"))
        self.thread_worker(w)
        t.join(10)
        self.assertEqual(out["r"][0], 502)
        self.assertIn(b"not safe to retry", out["r"][2])

    def test_job_that_kills_max_attempts_workers_is_dead_lettered(self):
        front = self.front("--timeout", "3s")
        a = self.holder()
        wait_workers(self.redis, 1)
        t, out = in_thread(lambda: http(front, "GET", "/hold", timeout=20))
        c = self.redis.client()
        wait_until(lambda: c.lindex("held", 0), 5, message="worker A to start the job")
        a.kill()
        w = Worker(redis=self.redis.url, heartbeat_ttl=0.6, max_attempts=1)  # its reaper dead-letters
        w.on("url", lambda req: (200, {}, "must not run"))
        self.thread_worker(w)
        record = json.loads(wait_until(lambda: c.lindex("tempest:dead", 0), 5, message="a dead letter"))
        self.assertEqual((record["queue"], record["priority"], record["attempts"]), ("tempest", "normal", 1))
        self.assertIn("died 1 times", record["reason"])
        self.assertEqual(json.loads(record["job"])[1][0]["path"], "/hold")
        self.assertEqual(c.llen("tempest"), 0)
        t.join(10)
        self.assertEqual(out["r"][0], 504, "nobody answers a dead letter")

    def test_clean_stop_says_goodbye(self):
        self.front()
        a = self.holder("--concurrency", "2")
        wait_workers(self.redis, 2)
        self.assertEqual(a.stop(), 0)
        c = self.redis.client()
        self.assertEqual(c.scard("tempest:workers"), 0)
        self.assertEqual(c.keys("tempest:worker:*") + c.keys("tempest:processing:*"), [])


class PriorityTest(ClientCase):
    def test_high_is_taken_first(self):
        front = self.front("--priority-header", "x-prio", "--timeout", "10s")
        c = self.redis.client()
        threads = []
        for prio in ("low", "normal", "high", "low", "high", "normal"):
            t, _ = in_thread(lambda p=prio: http(front, "GET", f"/{p}", headers={"X-Prio": p}))
            threads.append(t)
        wait_until(lambda: c.llen("tempest:high") == 2 and c.llen("tempest") == 2 and c.llen("tempest:low") == 2,
                   message="6 jobs queued on the three lists")
        order = []
        w = Worker(redis=self.redis.url, batch=1)
        w.on("url", lambda req: order.append(req.priority) or (200, {}, req.priority))
        self.thread_worker(w)
        for t in threads:
            t.join(10)
        self.assertEqual(order, ["high", "high", "normal", "normal", "low", "low"])


class DeadlineAndCancelTest(ClientCase):
    def test_job_past_its_deadline_is_dropped_unstarted(self):
        front = self.front("--timeout", "300ms")
        ran = []
        for mode in ("plain", "reliable"):
            self.assertEqual(http(front, "GET", "/late")[0], 504)
            w = Worker(redis=self.redis.url, mode=mode)
            w.on("url", lambda req: ran.append(req) or (200, {}, ""))
            t = self.thread_worker(w)
            wait_until(lambda: w.expired_jobs == 1, message=f"{mode}: the expired job dropped")
            w.stop()
            t.join(10)
        self.assertEqual(ran, [])

    def test_cancelled_job_is_dropped_unstarted(self):
        front = self.front("--timeout", "10s")
        c = self.redis.client()
        s = socket.create_connection(("127.0.0.1", front.http_port), timeout=5)
        s.sendall(b"GET /gone HTTP/1.1\r\nHost: t\r\n\r\n")
        wait_until(lambda: c.llen("tempest") == 1, message="the job queued")
        s.close()
        wait_until(lambda: c.hlen("tempest:cancelled") == 1, message="the front to cancel the job")
        ran = []
        w = Worker(redis=self.redis.url)
        w.on("url", lambda req: ran.append(req) or (200, {}, ""))
        self.thread_worker(w)
        wait_until(lambda: w.cancelled_jobs == 1, message="the cancelled job dropped")
        self.assertEqual(ran, [])
        self.assertEqual(c.hlen("tempest:cancelled"), 0, "its field deleted")

    def test_running_handler_sees_cancelled(self):
        front = self.front("--timeout", "10s")
        started, seen = threading.Event(), []
        w = Worker(redis=self.redis.url)

        @w.on("url")
        def h(req):
            started.set()
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and not req.cancelled():
                time.sleep(0.02)
            seen.append(req.cancelled())
            return 200, {}, ""
        self.thread_worker(w)
        wait_workers(self.redis, 1)
        s = socket.create_connection(("127.0.0.1", front.http_port), timeout=5)
        s.sendall(b"GET /long HTTP/1.1\r\nHost: t\r\n\r\n")
        self.assertTrue(started.wait(5))
        s.close()
        wait_until(lambda: seen, 5, message="the handler to see cancelled()")
        self.assertEqual(seen, [True])
