"""examples/shell/worker.sh: a worker made of redis-cli and sed alone serves the real front
(issue 9: the proof that any language works). Plain mode (BLPOP over the priority lists), only
announced answer endpoints, deadlines, unix-socket Redis URLs, a clean stop on SIGTERM."""
import json
import os
import signal
import threading
import time
import unittest

from integration.test_reliable import FakeFront
from support.harness import (SilentListener, TempestCase, _Process, http_request, wait_until)

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples", "shell",
                      "worker.sh")


class ShellWorkerTest(TempestCase):
    def setUp(self):
        self.redis = self.start_redis(unix_socket=True)

    def start_shell(self, *flags, redis_url=None):
        proc = _Process("worker.sh", [SCRIPT, "--redis", redis_url or self.redis.url + "/0", *flags])
        def cleanup():
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # the shell and its redis-cli
            except ProcessLookupError:
                pass
            proc.kill()
        self.addCleanup(cleanup)
        self._processes.append(proc)
        wait_until(lambda: "taking jobs" in proc.log() or not proc.alive(), 5, message="worker.sh to start")
        self.assertTrue(proc.alive(), proc.log())
        return proc

    def test_answers_requests_through_the_front(self):
        front = self.start_front(self.redis)
        self.start_shell()
        resp = http_request(front.http_port, "GET", '/caf%C3%A9/"x"?q=1', timeout=10)
        self.assertEqual(resp.status, 200)
        self.assertEqual(resp.header("x-worker"), "shell")
        self.assertEqual(resp.header("content-type"), "text/plain; charset=utf-8")
        self.assertEqual(resp.body, b"Hello world!")
        for i in range(5):  # one after the other on keep-alive-less connections
            self.assertEqual(http_request(front.http_port, "GET", f"/n{i}", timeout=10).body,
                             b"Hello world!")

    def test_takes_high_priority_jobs_first(self):
        front = self.start_front(self.redis, "--priority-routes", "/urgent=high")
        results = {}
        def get(target):
            results[target] = http_request(front.http_port, "GET", target, timeout=15)
        normal = threading.Thread(target=get, args=("/normal",))
        normal.start()
        with self.redis.client() as c:
            wait_until(lambda: c.llen("tempest") == 1, 5, message="the normal job queued")
            urgent = threading.Thread(target=get, args=("/urgent",))
            urgent.start()
            wait_until(lambda: c.llen("tempest:high") == 1, 5, message="the high job queued")
        once = self.start_shell("--once")
        once.wait(10)
        urgent.join(10)
        self.assertEqual(results["/urgent"].body, b"Hello world!")
        self.assertNotIn("/normal", results)  # still queued: --once took one job, the high one
        self.start_shell()
        normal.join(10)
        self.assertEqual(results["/normal"].status, 200)

    def test_drops_jobs_for_unannounced_endpoints_and_passed_deadlines(self):
        front = self.start_front(self.redis)
        hung = SilentListener()
        self.addCleanup(hung.close)
        far = int(time.time() * 1000) + 60_000
        def job(respond_to, job_id, deadline):
            return json.dumps(["url", [{"method": "GET", "url": "/x", "path": "/x", "query": "",
                                         "headers": {}, "deadline": deadline}], respond_to, job_id])
        with self.redis.client() as c:
            c.rpush("tempest", job(hung.address, 5, far),
                    job(front.answer_addresses[0], 6, int(time.time() * 1000) - 1000))
        w = self.start_shell()
        wait_until(lambda: "not an announced answer endpoint" in w.log() and "deadline passed" in w.log(),
                   10, message="both jobs dropped")
        self.assertEqual(hung.accepted, 0)
        self.assertEqual(front.counter("answers_unknown"), 0)
        self.assertEqual(http_request(front.http_port, "GET", "/after", timeout=10).status, 200)

    def test_serves_a_2012_format_job_for_an_allowed_endpoint(self):
        # The original front announced nothing and sent no "path": --answer-allow, and the url.
        fake = FakeFront()
        self.addCleanup(fake.close)
        with self.redis.client() as c:
            c.rpush("tempest", json.dumps(["url", [{"method": "GET", "url": "/old/page?x=1",
                                                    "headers": {"host": "h"}}], fake.address, 42]))
        self.start_shell("--answer-allow", f"127.0.0.1:1,{fake.address}")
        answer = wait_until(lambda: fake.answer_for(42), 10, message="the answer at the allowed endpoint")
        self.assertEqual(answer[0], 200)
        self.assertEqual(answer[2], "Hello world!")

    def test_unix_socket_url_and_clean_stop(self):
        front = self.start_front(self.redis)
        w = self.start_shell(redis_url=self.redis.unix_url + "?db=0")
        self.assertEqual(http_request(front.http_port, "GET", "/u", timeout=10).body,
                         b"Hello world!")
        start = time.monotonic()
        self.assertEqual(w.stop(timeout=5), 0)
        self.assertLess(time.monotonic() - start, 3.0)
        self.assertIn("stopped", w.log())

    def test_bad_arguments_are_refused_with_a_message(self):
        for args, why in ((["--bogus"], "unknown argument"), (["--redis", "ftp://x"], "--redis must be"),
                          (["--queue", ""], "--queue must not be empty")):
            p = _Process("worker.sh", [SCRIPT, *args])
            self.assertEqual(p.wait(5), 2)
            self.assertIn(why, p.log())


if __name__ == "__main__":
    unittest.main()
