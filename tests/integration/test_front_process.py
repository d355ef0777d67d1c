"""The front as a process: signals it must survive, and the open-files limit it must live within.

SIGHUP: there is no reload yet, so it is logged and ignored; the front (and its embedded Redis)
keeps serving. Open files: --max-connections is clamped below RLIMIT_NOFILE, and when
descriptors still run out (answer-endpoint connections are not counted in it), new clients
are closed at once instead of waiting in the listen backlog, and the log says so once per
interval instead of once per accept attempt.
"""

import json
import os
import re
import signal
import threading
import time

import redis as redis_py

from support.harness import (ConnectionClosed, FakeWorker, HttpConnection, RespConnection,
                             TempestCase, http_request, wait_until)

NOFILE = 128  # the front's open-files limit in the descriptor tests


def serve_one(redis_url, queue, body):
    """A worker in a thread: answers one job from queue with body."""
    def run():
        jobs = redis_py.Redis.from_url(redis_url)
        item = jobs.blpop(queue, timeout=10)
        if item is None:
            return
        _, respond_to, job_id = json.loads(item[1])[1:]
        host, port = respond_to.rsplit(":", 1)
        with redis_py.Redis(host=host, port=int(port), socket_timeout=5) as front:
            front.execute_command("url", job_id, json.dumps([200, {}, body]))
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


class SighupTest(TempestCase):

    def test_sighup_is_logged_and_ignored(self):
        front = self.start_front(None, "--timeout", "5s")  # with its embedded Redis
        # The harness starts the front in its own session: its pid is the process group, as a
        # terminal's hangup would reach it.
        os.killpg(front.pid, signal.SIGHUP)
        wait_until(lambda: "SIGHUP" in front.log(), 5.0, message="the SIGHUP log line")
        self.assertTrue(front.alive(), "SIGHUP killed the front")
        self.assertIn("ignored", front.log())
        front.send_signal(signal.SIGHUP)  # and again: it stays ignored
        wait_until(lambda: front.log().count("SIGHUP") >= 2, 5.0, message="a second SIGHUP line")
        worker = serve_one(front.redis_url, front.queue, "still here")
        resp = http_request(front.http_port, "GET", "/after-hup", timeout=10)
        worker.join(timeout=10)
        self.assertEqual((resp.status, resp.body), (200, b"still here"))
        self.assertEqual(front.stop(), 0)


class OpenFilesLimitTest(TempestCase):

    def setUp(self):
        self.redis = self.start_redis()
        self.front = self.start_front(self.redis, "--timeout", "5s", nofile=NOFILE)
        self.opened = []
        self.addCleanup(lambda: [c.close() for c in self.opened])

    def closed_by_front(self, conn):
        return not conn.is_open(wait=0.01)

    def test_max_connections_is_clamped_to_the_open_files_limit(self):
        total = NOFILE + 40  # more clients than the front could hold descriptors for
        for _ in range(total):
            self.opened.append(HttpConnection(self.front.http_port, timeout=5))
        # Every client is either held by the front or closed by it: none waits in the backlog.
        wait_until(lambda: self.front.info()["connections"]
                   + sum(self.closed_by_front(c) for c in self.opened) == total, 10.0,
                   message="every client to be accepted or closed")
        match = re.search(r"max-connections (\d+) .*?using (\d+)", self.front.log())
        self.assertIsNotNone(match, "no start-up line about clamping max-connections")
        clamped = int(match.group(2))
        self.assertLess(clamped, NOFILE)
        self.assertEqual(self.front.info()["connections"], clamped)
        self.assertGreaterEqual(self.front.info()["connections_refused"], total - clamped)
        self.assertNotIn("accept failed", self.front.log())

    def test_out_of_descriptors_new_clients_are_closed_at_once_and_logged_once(self):
        # Answer-endpoint connections are not bounded by --max-connections: open them until
        # the front has no descriptor left and closes the next one instead of accepting it.
        refused = None
        for _ in range(2 * NOFILE):
            try:
                conn = RespConnection(self.front.answer_port)
                self.opened.append(conn)
                if conn.command("PING") != ("+", "PONG"):
                    raise AssertionError("bad PING reply")
            except (ConnectionClosed, ConnectionResetError, BrokenPipeError) as e:
                refused = e
                break
        self.assertIsNotNone(refused, f"{len(self.opened)} answer connections all accepted")
        # HTTP clients too are closed at once, not left hanging.
        for _ in range(5):
            with HttpConnection(self.front.http_port, timeout=5) as conn:
                start = time.monotonic()
                conn.wait_closed(timeout=5.0)
                self.assertLess(time.monotonic() - start, 4.0)
        time.sleep(1.0)  # the period over which the log must not flood
        lines = [l for l in self.front.log().splitlines() if "descriptor" in l or "accept failed" in l]
        self.assertGreaterEqual(len(lines), 1, "the shortage was not logged")
        self.assertLessEqual(len(lines), 3, "\n".join(lines[:10]))
        self.assertTrue(self.front.alive())
        # Descriptors back: service resumes.
        for c in self.opened:
            c.close()
        self.opened.clear()
        wait_until(lambda: self.front.info() is not None, 10.0, message="the answer endpoint")
        with HttpConnection(self.front.http_port) as conn:
            conn.request("GET", "/again")
            job = FakeWorker(self.redis).take_job()
            job.answer([200, {}, "again"])
            self.assertEqual(conn.read_response().body, b"again")
