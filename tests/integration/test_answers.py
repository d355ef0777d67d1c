"""The answer endpoint: what a worker may send back, and what happens when it misbehaves.

The workers here are the test itself (FakeWorker pops the job with BLPOP; the answer goes over
a redis-py or raw RESP connection to the job's respond_to). A bad answer must cost only its
own request (502) and the worker gets -ERR; unknown and repeated answers get -ERR and change
nothing the client sees.
"""

import json
import socket
import subprocess

import redis as redis_py

from support.harness import (LOOPBACK, FakeWorker, HttpConnection, RespConnection, TempestCase,
                             answer)

QUEUE = "answers"


class AnswerTest(TempestCase):

    @classmethod
    def setUpClass(cls):
        cls.redis = cls.start_redis_for_class()
        cls.front = cls.start_front_for_class(cls.redis, "--queue", QUEUE, "--timeout", "1s",
                                              "--max-answer-size", "64k")
        cls.worker = FakeWorker(cls.redis, QUEUE)

    def request_and_answer(self, json_text, target="/"):
        """Sends a GET, answers its job with json_text; returns (reply or exception, Response)."""
        with HttpConnection(self.front.http_port) as conn:
            conn.request("GET", target)
            job = self.worker.take_job()
            try:
                reply = job.answer_raw(json_text)
            except redis_py.ResponseError as e:
                reply = e
            return reply, conn.read_response()

    def test_good_answer_is_ok(self):
        reply, resp = self.request_and_answer(json.dumps([200, {"X-A": "b"}, "fine"]))
        self.assertEqual(reply, b"OK")
        self.assertEqual((resp.status, resp.header("x-a"), resp.body), (200, "b", b"fine"))

    def test_invalid_answers_give_502_and_err(self):
        cases = {
            "not json": "this is not json",
            "truncated json": '[200, {}, "x"',
            "not an array": '{"status": 200}',
            "array too short": '[200, {}]',
            "array too long": '[200, {}, "x", 1]',
            "status 999": '[999, {}, "x"]',
            "status 99": '[99, {}, "x"]',
            "status as string": '["200", {}, "x"]',
            "status not integral": '[200.5, {}, "x"]',
            "header value with CRLF": json.dumps([200, {"X-A": "1\r\nX-Injected: 1"}, "x"]),
            "header value with LF": json.dumps([200, {"X-A": "1\nX-Injected: 1"}, "x"]),
            "header value with NUL": json.dumps([200, {"X-A": "1\u0000"}, "x"]),
            "list header value with CRLF": json.dumps([200, {"X-A": ["ok", "1\r\nX-Injected: 1"]},
                                                       "x"]),
            "header name with space": json.dumps([200, {"X A": "1"}, "x"]),
            "header name with colon": json.dumps([200, {"X-A:": "1"}, "x"]),
            "empty header name": json.dumps([200, {"": "1"}, "x"]),
        }
        for name, text in cases.items():
            with self.subTest(name):
                invalid_before = self.front.info()["answers_invalid"]
                reply, resp = self.request_and_answer(text)
                self.assertIsInstance(reply, redis_py.ResponseError, f"{name}: got {reply!r}")
                self.assertEqual(resp.status, 502, resp)
                self.assertIsNone(resp.header("x-injected"), resp)
                self.assertEqual(self.front.info()["answers_invalid"], invalid_before + 1)
        # Only those requests failed: the next one is served normally.
        reply, resp = self.request_and_answer(json.dumps([200, {}, "after"]))
        self.assertEqual((reply, resp.status, resp.body), (b"OK", 200, b"after"))

    def test_invalid_answer_reply_is_an_err_line(self):
        with HttpConnection(self.front.http_port) as conn:
            conn.request("GET", "/raw-err")
            job = self.worker.take_job()
            with RespConnection(self.front.answer_port) as resp_conn:
                kind, text = resp_conn.command("url", job.job_id, '[999, {}, "x"]')
            self.assertEqual(kind, "-", text)
            self.assertTrue(text.startswith("ERR"), text)
            self.assertEqual(conn.read_response().status, 502)

    def test_first_answer_wins(self):
        with HttpConnection(self.front.http_port) as conn:
            conn.request("GET", "/twice")
            job = self.worker.take_job()
            self.assertEqual(job.answer([200, {}, "first"]), b"OK")
            with self.assertRaises(redis_py.ResponseError):
                job.answer([201, {}, "second"])
            resp = conn.read_response()
            self.assertEqual((resp.status, resp.body), (200, b"first"))
            self.assertTrue(conn.is_open(), "connection closed after the answer")

    def test_unknown_job_id_is_err(self):
        before = self.front.info()["answers_unknown"]
        for job_id in ("987654321987", "0", "-1", "abc", "", "1" * 40):
            with self.subTest(job_id=job_id), RespConnection(self.front.answer_port) as conn:
                kind, text = conn.command("url", job_id, json.dumps([200, {}, "x"]))
                self.assertEqual(kind, "-", text)
        self.assertGreater(self.front.info()["answers_unknown"], before)

    def test_answer_after_timeout_is_err_and_client_got_504(self):
        with HttpConnection(self.front.http_port) as conn:
            conn.request("GET", "/late")
            job = self.worker.take_job()
            resp = conn.read_response()
            self.assertEqual(resp.status, 504, resp)
            with self.assertRaises(redis_py.ResponseError):
                job.answer([200, {}, "too late"])

    def test_answer_connection_is_kept_for_many_answers(self):
        with self.front.answer_client() as front_conn:
            for i in range(3):
                with HttpConnection(self.front.http_port) as conn:
                    conn.request("GET", f"/kept/{i}")
                    job = self.worker.take_job()
                    self.assertEqual(front_conn.execute_command(
                        "url", job.job_id, json.dumps([200, {}, f"n{i}"])), b"OK")
                    self.assertEqual(conn.read_response().body, f"n{i}".encode())

    def test_answer_larger_than_max_answer_size_closes_the_answer_connection(self):
        with HttpConnection(self.front.http_port) as conn:
            conn.request("GET", "/big-answer")
            job = self.worker.take_job()
            with RespConnection(self.front.answer_port) as resp_conn:
                body = json.dumps([200, {}, "x" * (128 * 1024)])
                try:
                    resp_conn.command("url", job.job_id, body)
                    closed = False
                except OSError:  # ConnectionClosed, reset, broken pipe
                    closed = True
                if not closed:
                    resp_conn.sock.settimeout(3)
                    try:
                        closed = resp_conn.sock.recv(1) == b""
                    except OSError:
                        closed = True
                self.assertTrue(closed, "answer endpoint kept a connection past max-answer-size")
            # The same job can still be answered within the limit.
            self.assertEqual(job.answer([200, {}, "y" * (32 * 1024)]), b"OK")
            self.assertEqual(conn.read_response().body, b"y" * (32 * 1024))

    def test_ping_echo_info_quit(self):
        with RespConnection(self.front.answer_port) as conn:
            self.assertEqual(conn.command("PING"), ("+", "PONG"))
            self.assertEqual(conn.command("ping"), ("+", "PONG"))
            self.assertEqual(conn.command("ECHO", "hello"), ("$", b"hello"))
            kind, info = conn.command("INFO")
            self.assertEqual(kind, "$")
            self.assertIn(b"redis_version:", info)
            self.assertEqual(conn.command("NOSUCHCOMMAND")[0], "-")
            self.assertEqual(conn.command("QUIT"), ("+", "OK"))
            conn.sock.settimeout(3)
            self.assertEqual(conn.sock.recv(1), b"")

    def test_info_has_the_counters(self):
        info = self.front.info()
        self.assertIn("redis_version", info)
        for name in ("requests_total", "jobs_pushed", "answers_accepted", "answers_unknown",
                     "answers_invalid", "timeouts", "redis_unavailable", "bad_requests",
                     "pending_jobs", "connections"):
            with self.subTest(name):
                self.assertIsInstance(info.get(name), int, f"INFO lacks {name}: {info}")

    def test_redis_cli_ping(self):
        result = subprocess.run(["/usr/bin/redis-cli", "-h", LOOPBACK, "-p",
                                 str(self.front.answer_port), "ping"],
                                capture_output=True, timeout=10, stdin=subprocess.DEVNULL)
        self.assertEqual(result.stdout.strip(), b"PONG", result)

    def test_garbage_on_the_answer_endpoint_does_not_hurt_the_front(self):
        with socket.create_connection((LOOPBACK, self.front.answer_port), timeout=3) as s:
            s.sendall(b"*2\r\n$-5\r\nxx\r\n\x00\x01\x02 garbage\r\n")
            s.settimeout(3)
            try:
                s.recv(4096)
            except (socket.timeout, ConnectionError):
                pass
        reply, resp = self.request_and_answer(json.dumps([200, {}, "still fine"]))
        self.assertEqual((reply, resp.status), (b"OK", 200))


class AnswerPasswordTest(TempestCase):
    """--answer-listen on all interfaces requires --answer-password; then AUTH comes first."""

    @classmethod
    def setUpClass(cls):
        cls.redis = cls.start_redis_for_class()
        cls.front = cls.start_front_for_class(cls.redis, "--queue", QUEUE, "--timeout", "2s",
                                              "--answer-password", "s3cret",
                                              answer_listen="0.0.0.0:0")
        cls.worker = FakeWorker(cls.redis, QUEUE)

    def test_commands_before_auth_get_noauth(self):
        with RespConnection(self.front.answer_port) as conn:
            self.assertTrue(conn.command("PING")[1].startswith("NOAUTH"))
            kind, text = conn.command("url", "1", json.dumps([200, {}, "x"]))
            self.assertEqual(kind, "-")
            self.assertTrue(text.startswith("NOAUTH"), text)
            self.assertTrue(conn.command("INFO")[1].startswith("NOAUTH"))

    def test_wrong_password_is_refused(self):
        with RespConnection(self.front.answer_port) as conn:
            kind, _ = conn.command("AUTH", "wrong")
            self.assertEqual(kind, "-")
            self.assertTrue(conn.command("PING")[1].startswith("NOAUTH"))

    def test_answer_after_auth_is_ok(self):
        with HttpConnection(self.front.http_port) as http:
            http.request("GET", "/secret")
            job = self.worker.take_job()
            with RespConnection(self.front.answer_port) as conn:
                kind, text = conn.command("url", job.job_id, json.dumps([200, {}, "no"]))
                self.assertEqual(kind, "-")
                self.assertTrue(text.startswith("NOAUTH"), text)
                self.assertEqual(conn.command("AUTH", "s3cret"), ("+", "OK"))
                self.assertEqual(conn.command("url", job.job_id, json.dumps([200, {}, "yes"])),
                                 ("+", "OK"))
            resp = http.read_response()
        self.assertEqual((resp.status, resp.body), (200, b"yes"))

    def test_redis_py_with_password_answers(self):
        with HttpConnection(self.front.http_port) as http:
            http.request("GET", "/redis-py")
            job = self.worker.take_job()
            self.assertEqual(answer(f"{LOOPBACK}:{self.front.answer_port}", job.job_id,
                                    json.dumps([200, {}, "ok"]), password="s3cret"), b"OK")
            self.assertEqual(http.read_response().body, b"ok")
        self.assertIn("redis_version", self.front.info(password="s3cret"))
