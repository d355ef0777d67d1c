"""Things going away: Redis, workers, the front itself.

Each test starts its own redis-server and front, since it breaks them. The front must answer
every request with something (503 when Redis is down, 504 when no answer comes in time), never
crash, and recover by itself once Redis is back. SIGTERM drains in-flight requests.
"""

import signal
import time

from support.harness import (ConnectionClosed, HttpConnection, TempestCase, http_request,
                             port_accepts, wait_until)


class RedisOutageTest(TempestCase):

    def test_redis_down_gives_503_quickly_and_recovery_is_automatic(self):
        redis = self.start_redis()
        front = self.start_front(redis, "--timeout", "5s")
        worker = self.start_worker("hello_worker", redis)
        self.assertEqual(http_request(front.http_port).status, 200)

        worker.kill()
        redis.stop()
        for _ in range(3):
            start = time.monotonic()
            resp = http_request(front.http_port, "GET", "/while-down")
            self.assertEqual(resp.status, 503, resp)
            self.assert_elapsed_between(start, 0.0, 2.0, "503 while Redis is down")
        self.assertTrue(front.alive(), "front died when Redis went away")
        self.assertGreaterEqual(front.info()["redis_unavailable"], 1)

        redis.restart()
        self.start_worker("hello_worker", redis)
        start = time.monotonic()

        def served():
            return http_request(front.http_port, "GET", "/after", timeout=6).status == 200

        wait_until(served, timeout=8.0, interval=0.2, message="a 200 after Redis restarted")
        self.assert_elapsed_between(start, 0.0, 8.0, "recovery")

    def test_redis_down_with_a_request_in_flight_does_not_crash(self):
        redis = self.start_redis()
        front = self.start_front(redis, "--timeout", "1s")
        with HttpConnection(front.http_port) as conn:
            conn.request("GET", "/in-flight")
            front.wait_counter("jobs_pushed", 1)
            redis.stop()
            resp = conn.read_response()
            self.assertIn(resp.status, (503, 504), resp)
        self.assertTrue(front.alive())
        self.assertEqual(http_request(front.http_port).status, 503)


    def test_stalled_redis_still_gets_an_answer_in_time(self):
        redis = self.start_redis()
        front = self.start_front(redis, "--timeout", "1s")
        self.start_worker("hello_worker", redis)
        self.assertEqual(http_request(front.http_port).status, 200)
        redis.pause()
        try:
            start = time.monotonic()
            resp = http_request(front.http_port, "GET", "/stalled", timeout=6)
            self.assertIn(resp.status, (503, 504), resp)
            self.assert_elapsed_between(start, 0.0, 2.5, "answer while Redis is stalled")
        finally:
            redis.resume()
        wait_until(lambda: http_request(front.http_port, timeout=4).status == 200, timeout=6,
                   interval=0.2, message="a 200 once Redis answers again")


class WorkerOutageTest(TempestCase):

    def test_worker_reconnects_after_redis_restart(self):
        redis = self.start_redis()
        front = self.start_front(redis, "--timeout", "1s")
        worker = self.start_worker("hello_worker", redis)
        self.assertEqual(http_request(front.http_port).status, 200)
        redis.restart()
        wait_until(lambda: http_request(front.http_port, timeout=4).status == 200, timeout=8,
                   interval=0.2, message="the same worker serving after Redis restarted")
        self.assertTrue(worker.alive())

    def test_no_worker_gives_504_after_timeout(self):
        redis = self.start_redis()
        front = self.start_front(redis, "--timeout", "1s")
        before = front.info()["timeouts"]
        start = time.monotonic()
        resp = http_request(front.http_port, "GET", "/nobody-home")
        self.assertEqual(resp.status, 504, resp)
        self.assert_elapsed_between(start, 0.9, 3.0, "504")
        info = front.info()
        self.assertEqual(info["timeouts"], before + 1)
        self.assertEqual(info["pending_jobs"], 0)

    def test_worker_killed_mid_job_gives_504_and_a_new_worker_serves(self):
        redis = self.start_redis()
        front = self.start_front(redis, "--timeout", "2s")
        worker = self.start_worker("echo_worker", redis)
        with HttpConnection(front.http_port) as conn:
            conn.request("GET", "/sleep?ms=5000")
            front.wait_counter("jobs_pushed", 1)
            with redis.client() as c:
                wait_until(lambda: c.llen("tempest") == 0, message="the worker to take the job")
            worker.kill()
            resp = conn.read_response()
            self.assertEqual(resp.status, 504, resp)
        self.start_worker("echo_worker", redis)
        resp = http_request(front.http_port, "GET", "/after-kill")
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual(resp.json()["url"], "/after-kill")


class ShutdownTest(TempestCase):

    def test_sigterm_when_idle_exits_zero_promptly(self):
        redis = self.start_redis()
        front = self.start_front(redis)
        start = time.monotonic()
        self.assertEqual(front.stop(timeout=5), 0)
        self.assert_elapsed_between(start, 0.0, 2.0, "idle shutdown")

    def test_sigterm_closes_idle_keep_alive_connections_without_waiting(self):
        redis = self.start_redis()
        front = self.start_front(redis, "--keepalive-timeout", "60s", "--shutdown-timeout", "8s")
        self.start_worker("hello_worker", redis)
        with HttpConnection(front.http_port) as idle, HttpConnection(front.http_port) as silent:
            idle.request("GET", "/")
            self.assertEqual(idle.read_response().status, 200)
            start = time.monotonic()
            self.assertEqual(front.stop(timeout=10), 0)
            self.assert_elapsed_between(start, 0.0, 2.0, "shutdown with idle connections")
            self.assertEqual(idle.wait_closed(), b"")
            self.assertEqual(silent.wait_closed(), b"")

    def test_sigterm_lets_the_in_flight_request_finish_and_refuses_new_ones(self):
        redis = self.start_redis()
        front = self.start_front(redis, "--timeout", "10s", "--shutdown-timeout", "8s")
        self.start_worker("echo_worker", redis)
        with HttpConnection(front.http_port) as conn:
            conn.request("GET", "/sleep?ms=1500")
            front.wait_counter("jobs_pushed", 1)
            with redis.client() as c:
                wait_until(lambda: c.llen("tempest") == 0, message="the worker to take the job")
            front.send_signal(signal.SIGTERM)
            wait_until(lambda: not port_accepts(front.http_port), timeout=1.0,
                       message="the front to stop accepting connections")
            resp = conn.read_response()
            self.assertEqual(resp.status, 200, resp)
            self.assertEqual(resp.json()["url"], "/sleep?ms=1500")
        self.assertEqual(front.wait(timeout=5), 0)

    def test_shutdown_timeout_bounds_the_drain(self):
        redis = self.start_redis()
        front = self.start_front(redis, "--timeout", "30s", "--shutdown-timeout", "1s")
        with HttpConnection(front.http_port) as conn:
            conn.request("GET", "/never-answered")
            front.wait_counter("jobs_pushed", 1)
            start = time.monotonic()
            front.send_signal(signal.SIGTERM)
            front.wait(timeout=6)
            self.assert_elapsed_between(start, 0.5, 4.0, "shutdown with a stuck request")
            try:
                resp = conn.read_response()
                self.assertEqual(resp.status, 503, resp)
            except ConnectionClosed:
                pass  # closing the connection is an acceptable end for an unanswered request
