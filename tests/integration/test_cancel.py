"""Cancellation (docs/protocol.md 8.5): a client that goes away while its request waits has its
job cancelled. A worker that has not started the job drops it unstarted; a worker running it
sees request::cancelled() and can stop early (echo_worker's /sleep does); the late answer is
refused by the front. Real redis-server, real front, real echo_worker, raw sockets."""

import socket
import threading
import time

from support.harness import HttpConnection, TempestCase, http_request, LOOPBACK

QUEUE = "cancel"


def request_then_leave(port, target, wait=0.3):
    """Sends a GET, waits a little (the front starts watching after 50 ms), then closes."""
    sock = socket.create_connection((LOOPBACK, port), timeout=5)
    sock.sendall(b"GET " + target.encode() + b" HTTP/1.1\r\nHost: test\r\n\r\n")
    time.sleep(wait)
    sock.close()


def wait_for(predicate, timeout, message):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {message}")


class CancelTest(TempestCase):

    def setUp(self):
        self.redis = self.start_redis()
        self.front = self.start_front(self.redis, "--queue", QUEUE, "--timeout", "20s")

    def test_a_job_whose_client_left_is_never_started(self):
        request_then_leave(self.front.http_port, "/left-early")
        wait_for(lambda: self.front.counter("cancelled") == 1, 3.0, "the front to cancel the job")
        with self.redis.client() as c:
            self.assertEqual(c.hlen("tempest:cancelled"), 1)
            self.assertGreater(c.pttl("tempest:cancelled"), 0)
            self.assertEqual(c.llen(QUEUE), 1)  # still queued: no worker yet
        self.start_worker("echo_worker", self.redis, QUEUE)
        with self.redis.client() as c:
            wait_for(lambda: c.llen(QUEUE) == 0, 5.0, "the worker to take the queue")
            wait_for(lambda: c.hlen("tempest:cancelled") == 0, 5.0, "the cancel mark to be consumed")
        time.sleep(0.3)
        # dropped unstarted: no answer at all reached the front
        self.assertEqual(self.front.counter("answers_unknown"), 0)
        self.assertEqual(self.front.counter("answers_accepted"), 0)
        # the worker still serves the next request
        resp = http_request(self.front.http_port, "GET", "/after", timeout=10)
        self.assertEqual(resp.status, 200)

    def test_a_cancelled_job_is_dropped_from_a_batch_the_others_run(self):
        # One batch holds a job whose client left between two that wait: only the two run.
        results = {}
        def wait(name):
            results[name] = http_request(self.front.http_port, "GET", f"/{name}", timeout=15)
        first = threading.Thread(target=wait, args=("first",))
        first.start()
        wait_for(lambda: self.redis_llen() == 1, 3.0, "the first job queued")
        request_then_leave(self.front.http_port, "/left-early")
        wait_for(lambda: self.front.counter("cancelled") == 1, 3.0, "the front to cancel the job")
        last = threading.Thread(target=wait, args=("last",))
        last.start()
        wait_for(lambda: self.redis_llen() == 3, 3.0, "three jobs queued")
        self.start_worker("echo_worker", self.redis, QUEUE, "--batch", "16")
        first.join(15)
        last.join(15)
        self.assertEqual((results["first"].status, results["last"].status), (200, 200))
        with self.redis.client() as c:
            wait_for(lambda: c.hlen("tempest:cancelled") == 0, 5.0, "the cancel mark to be consumed")
        time.sleep(0.3)
        self.assertEqual(self.front.counter("answers_accepted"), 2)
        self.assertEqual(self.front.counter("answers_unknown"), 0)  # the left one never ran

    def redis_llen(self):
        with self.redis.client() as c:
            return c.llen(QUEUE)

    def test_a_running_handler_sees_cancelled_and_stops_early(self):
        self.start_worker("echo_worker", self.redis, QUEUE)
        start = time.monotonic()
        request_then_leave(self.front.http_port, "/sleep?ms=15000")
        # echo_worker polls req.cancelled() every 50 ms, stops and answers; the front refuses
        # that late answer (nobody waits for it): answers_unknown moves long before 15 s.
        wait_for(lambda: self.front.counter("answers_unknown") == 1, 5.0, "the cancelled handler to answer")
        self.assertLess(time.monotonic() - start, 5.0)
        self.assertEqual(self.front.counter("cancelled"), 1)

    def test_a_client_that_waits_is_not_cancelled(self):
        self.start_worker("echo_worker", self.redis, QUEUE)
        resp = http_request(self.front.http_port, "GET", "/sleep?ms=400", timeout=10)
        self.assertEqual(resp.status, 200)
        self.assertIn(b'"/sleep?ms=400"', resp.body)
        self.assertEqual(self.front.counter("cancelled"), 0)

    def test_pipelined_requests_are_not_mistaken_for_a_disconnect(self):
        self.start_worker("echo_worker", self.redis, QUEUE)
        with HttpConnection(self.front.http_port, timeout=10) as conn:
            conn.send(b"GET /sleep?ms=300 HTTP/1.1\r\nHost: t\r\n\r\nGET /second HTTP/1.1\r\nHost: t\r\n\r\n")
            first, second = conn.read_response(), conn.read_response()
        self.assertEqual((first.status, second.status), (200, 200))
        self.assertIn(b"/second", second.body)
        self.assertEqual(self.front.counter("cancelled"), 0)
