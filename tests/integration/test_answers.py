"""The answer endpoint: what a worker may send back, and what happens when it misbehaves.

The workers here are the test itself (FakeWorker pops the job with BLPOP; the answer goes over
a redis-py or raw RESP connection to the job's respond_to). A bad answer must cost only its
own request (502) and the worker gets -ERR; unknown and repeated answers get -ERR and change
nothing the client sees.
"""

import json
import socket
import subprocess
import time

import redis as redis_py

from support.harness import (LOOPBACK, FakeWorker, HttpConnection, RespConnection, TempestCase,
                             answer, build_request)

QUEUE = "answers"


def proc_memory_kb(pid):
    """(VmSize, VmRSS) of a process, in KiB, from /proc."""
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            name, _, value = line.partition(":")
            if name in ("VmSize", "VmRSS"):
                fields[name] = int(value.split()[0])
    return fields["VmSize"], fields["VmRSS"]


def read_until_closed(sock, timeout=5.0):
    """Everything the peer sends until it closes; AssertionError if it stays open."""
    sock.settimeout(timeout)
    data = b""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return data
            data += chunk
    except ConnectionResetError:
        return data
    except socket.timeout:
        raise AssertionError(f"connection still open after {timeout}s (got {data[:200]!r})")


def resp_command(*args):
    """The RESP array for a command (bytes or str arguments)."""
    parts = [a if isinstance(a, bytes) else str(a).encode() for a in args]
    return b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts)


def answer_of_size(job_id, size):
    """A "url" command answering job_id with 200 whose RESP encoding is exactly size bytes."""
    pad = size - len(resp_command("url", job_id, json.dumps([200, {}, ""])))
    while True:
        wire = resp_command("url", job_id, json.dumps([200, {}, "x" * pad]))
        if len(wire) == size:
            return wire
        pad += size - len(wire)


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
            "array too short": '[200]',
            "array too long": '[200, {}, "x", 1]',
            "status 999": '[999, {}, "x"]',
            "status 99": '[99, {}, "x"]',
            "status as a non-decimal string": '["2x0", {}, "x"]',
            "status as a long string": '["2000", {}, "x"]',
            "status not integral": '[200.5, {}, "x"]',
            "header value with CRLF": json.dumps([200, {"X-A": "1\r\nX-Injected: 1"}, "x"]),
            "header value with LF": json.dumps([200, {"X-A": "1\nX-Injected: 1"}, "x"]),
            "header value with NUL": json.dumps([200, {"X-A": "1\u0000"}, "x"]),
            "header value with SOH": json.dumps([200, {"X-A": "1\u0001"}, "x"]),
            "header value with VT": json.dumps([200, {"X-A": "1\u000b"}, "x"]),
            "header value with DEL": json.dumps([200, {"X-A": "1\u007f"}, "x"]),
            "header value true": json.dumps([200, {"X-A": True}, "x"]),
            "body a number": '[200, {}, 5]',
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

    def test_unknown_status_gets_a_generic_reason(self):
        # Beast names no 299 and would send "HTTP/1.1 299 <unknown-status>" (issue 7.8).
        reply, resp = self.request_and_answer(json.dumps([299, {}, "odd"]))
        self.assertEqual((reply, resp.status, resp.body), (b"OK", 299, b"odd"))
        self.assertEqual(resp.reason, "Successful")
        reply, resp = self.request_and_answer(json.dumps([200, {}, "ok"]))
        self.assertEqual(resp.reason, "OK")

    def test_answers_in_the_2012_forms_are_accepted(self):
        # The 2012 Python client sent header values as numbers ('Content-length': len(body)); the
        # 2012 front also took a status as a decimal string and [status, headers] (issue 7.16).
        body = "hello"
        reply, resp = self.request_and_answer(json.dumps(
            [200, {"Content-length": len(body), "X-Count": 7, "X-Ratio": 0.5}, body]))
        self.assertEqual((reply, resp.status, resp.body), (b"OK", 200, b"hello"))
        self.assertEqual((resp.header("x-count"), resp.header("x-ratio")), ("7", "0.5"))
        self.assertEqual(resp.header("content-length"), "5")
        reply, resp = self.request_and_answer('["201", {"X-A": "b"}, "made"]')
        self.assertEqual((reply, resp.status, resp.body), (b"OK", 201, b"made"))
        reply, resp = self.request_and_answer('[204, {"X-A": "b"}]')
        self.assertEqual((reply, resp.status, resp.header("x-a"), resp.body), (b"OK", 204, "b", b""))
        reply, resp = self.request_and_answer('[200, {}]')
        self.assertEqual((reply, resp.status, resp.body), (b"OK", 200, b""))

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

    def test_huge_length_header_before_auth_is_a_protocol_error(self):
        # Before AUTH too (issue 7.1): refused at the header, with nothing allocated.
        size_before, _ = proc_memory_kb(self.front.pid)
        for hostile in (b"*2147483647\r\n", b"*3\r\n$4\r\nAUTH\r\n$2147483647\r\n"):
            with self.subTest(hostile=hostile), socket.create_connection(
                    (LOOPBACK, self.front.answer_port), timeout=5) as s:
                s.sendall(hostile)
                self.assertTrue(read_until_closed(s).startswith(b"-ERR Protocol error"))
        size_after, _ = proc_memory_kb(self.front.pid)
        self.assertLess(size_after - size_before, 256 * 1024, "VmSize grew (KiB)")

    def test_a_message_over_the_pre_auth_limit_closes_the_connection(self):
        with socket.create_connection((LOOPBACK, self.front.answer_port), timeout=5) as s:
            s.sendall(resp_command("AUTH", "x" * 5000))  # --answer-auth-max-size is 4k
            self.assertTrue(read_until_closed(s).startswith(b"-ERR Protocol error"))
        with RespConnection(self.front.answer_port) as conn:  # others are not affected
            self.assertEqual(conn.command("AUTH", "s3cret"), ("+", "OK"))

    def test_wrong_passwords_close_the_connection_after_three(self):
        before = self.front.info(password="s3cret").get("answer_auth_failures", 0)
        with RespConnection(self.front.answer_port) as conn:
            for attempt in range(3):
                kind, text = conn.command("AUTH", f"guess{attempt}")
                self.assertEqual(kind, "-")
                self.assertTrue(text.startswith("WRONGPASS"), text)
            self.assertEqual(read_until_closed(conn.sock), b"")
        self.assertEqual(self.front.info(password="s3cret")["answer_auth_failures"], before + 3)

    def test_wrong_passwords_are_not_logged_one_line_each(self):
        def lines():
            return self.front.log().count("wrong password")
        lines_before = lines()
        for _ in range(10):
            with RespConnection(self.front.answer_port) as conn:
                for _ in range(3):
                    self.assertEqual(conn.command("AUTH", "nope")[0], "-")
        # 30 wrong passwords: one line per 10 s (and one more if this loop crossed a boundary).
        self.assertLessEqual(lines() - lines_before, 2, self.front.log()[-2000:])
        with RespConnection(self.front.answer_port) as conn:
            self.assertEqual(conn.command("AUTH", "s3cret"), ("+", "OK"))


class HostileAnswerTest(TempestCase):
    """Messages a hostile or broken client sends to the answer endpoint (issue 7: 1, 2, 10)."""

    @classmethod
    def setUpClass(cls):
        cls.redis = cls.start_redis_for_class()
        cls.front = cls.start_front_for_class(cls.redis, "--queue", QUEUE, "--timeout", "30s",
                                              "--max-answer-size", "64k")
        cls.worker = FakeWorker(cls.redis, QUEUE)

    def round_trip(self, text):
        """A request answered by the fake worker; returns (seconds it took, Response)."""
        start = time.monotonic()
        with HttpConnection(self.front.http_port, timeout=30) as conn:
            conn.request("GET", "/round-trip")
            self.assertEqual(self.worker.take_job(timeout=30).answer([200, {}, text]), b"OK")
            resp = conn.read_response()
        return time.monotonic() - start, resp

    def test_huge_length_headers_neither_stall_nor_grow_the_front(self):
        size_before, rss_before = proc_memory_kb(self.front.pid)
        hostile = (b"*2147483647\r\n", b"*1048576\r\n", b"*17\r\n", b"*2\r\n*2147483647\r\n",
                   b"*9223372036854775807\r\n", b"*99999999999999999999\r\n", b"*3\r\n$-7\r\n")
        for message in hostile:
            with self.subTest(message=message), socket.create_connection(
                    (LOOPBACK, self.front.answer_port), timeout=5) as s:
                s.sendall(message)
                self.assertTrue(read_until_closed(s).startswith(b"-ERR Protocol error"))
        # The attack as seen: a header, then a close. A bulk over --max-answer-size is not an
        # error on an authenticated connection (it is dropped as it arrives), and costs nothing.
        for message in (b"*2147483647\r\n",) * 5 + (b"*3\r\n$3\r\nurl\r\n$2147483647\r\n",) * 5:
            with socket.create_connection((LOOPBACK, self.front.answer_port), timeout=5) as s:
                s.sendall(message)
        for i in range(5):
            elapsed, resp = self.round_trip(f"prompt {i}")
            self.assertEqual((resp.status, resp.body), (200, f"prompt {i}".encode()))
            self.assertLess(elapsed, 5.0, "the front stalled after the hostile headers")
        size_after, rss_after = proc_memory_kb(self.front.pid)
        self.assertLess(size_after - size_before, 256 * 1024, "VmSize grew (KiB)")
        self.assertLess(rss_after - rss_before, 64 * 1024, "VmRSS grew (KiB)")
        self.assertGreaterEqual(self.front.info()["answer_protocol_errors"], len(hostile))

    def test_http_post_to_the_answer_port_cannot_complete_a_request(self):
        # What a web page can make a browser send to 127.0.0.1 (a text/plain form POST).
        with HttpConnection(self.front.http_port, timeout=30) as victim:
            victim.request("GET", "/victim")
            job = self.worker.take_job()
            injected = '[200,{},"pwned"]'
            for body in (f"url {job.job_id} {injected}\r\n",
                         resp_command("url", job.job_id, injected).decode()):
                with self.subTest(body=body[:20]), socket.create_connection(
                        (LOOPBACK, self.front.answer_port), timeout=5) as s:
                    s.sendall(build_request("POST", "/", {"Content-Type": "text/plain"},
                                            body.encode()))
                    self.assertEqual(read_until_closed(s), b"")
            with socket.create_connection((LOOPBACK, self.front.answer_port), timeout=5) as s:
                s.sendall(f"Host: x\r\nurl {job.job_id} [200,{{}},\"pwned\"]\r\n".encode())
                self.assertEqual(read_until_closed(s), b"")
            self.assertEqual(job.answer([200, {}, "legit"]), b"OK")  # the job was still waiting
            self.assertEqual(victim.read_response().body, b"legit")

    def test_no_inline_commands_after_garbage(self):
        with HttpConnection(self.front.http_port, timeout=30) as client:
            client.request("GET", "/after-garbage")
            job = self.worker.take_job()
            with socket.create_connection((LOOPBACK, self.front.answer_port), timeout=5) as s:
                s.sendall(b"\x16\x03\x01 hello\r\n")  # not a command we know
                s.sendall(f"url {job.job_id} [200,{{}},\"inline\"]\r\n".encode())
                replies = read_until_closed(s)
            self.assertTrue(replies.startswith(b"-ERR unknown command"), replies)
            self.assertIn(b"-ERR Protocol error", replies)
            self.assertNotIn(b"+OK", replies)
            self.assertEqual(job.answer([200, {}, "array"]), b"OK")
            self.assertEqual(client.read_response().body, b"array")
        with RespConnection(self.front.answer_port) as conn:  # a clean connection may use inline
            conn.send_raw(b"PING\r\n")
            self.assertEqual(conn.read_reply(), ("+", "PONG"))

    def test_oversized_answer_fails_only_its_own_request(self):
        # Ten answers pipelined on one connection, the fourth over --max-answer-size (issue 7.10).
        invalid_before = self.front.info()["answers_invalid"]
        clients = []
        try:
            for i in range(10):
                clients.append(HttpConnection(self.front.http_port, timeout=30))
                clients[-1].request("GET", f"/pipelined/{i}")
            jobs = {}
            for _ in range(10):
                job = self.worker.take_job()
                jobs[job.request["url"]] = job
            wire = b""
            for i in range(10):
                text = "x" * (200 * 1024) if i == 3 else f"answer {i}"
                wire += resp_command("url", jobs[f"/pipelined/{i}"].job_id,
                                     json.dumps([200, {}, text]))
            with RespConnection(self.front.answer_port, timeout=30) as conn:
                conn.send_raw(wire)
                replies = [conn.read_reply() for _ in range(10)]
                self.assertEqual(conn.command("PING"), ("+", "PONG"))  # still open
            for i, (kind, text) in enumerate(replies):
                if i == 3:
                    self.assertEqual(kind, "-")
                    self.assertIn("larger than --max-answer-size", text)
                else:
                    self.assertEqual((kind, text), ("+", "OK"), i)
            for i, client in enumerate(clients):
                resp = client.read_response()
                if i == 3:
                    self.assertEqual(resp.status, 502)
                else:
                    self.assertEqual((resp.status, resp.body), (200, f"answer {i}".encode()))
        finally:
            for client in clients:
                client.close()
        self.assertEqual(self.front.info()["answers_invalid"], invalid_before + 1)

    def test_max_answer_size_is_exact(self):
        limit = 64 * 1024
        for size, fits in ((limit, True), (limit + 1, False), (limit + 20000, False)):
            with self.subTest(size=size), HttpConnection(self.front.http_port, timeout=30) as client:
                client.request("GET", f"/exact/{size}")
                job = self.worker.take_job()
                with RespConnection(self.front.answer_port, timeout=30) as conn:
                    conn.send_raw(answer_of_size(job.job_id, size))
                    kind, text = conn.read_reply()
                    self.assertEqual(conn.command("PING"), ("+", "PONG"))
                resp = client.read_response()
                if fits:
                    self.assertEqual((kind, resp.status), ("+", 200), text)
                else:
                    self.assertEqual((kind, resp.status), ("-", 502), text)


class LargeAnswerTest(TempestCase):
    """A response bigger than the socket takes at once: the front writes what fits at once and
    the rest as the client reads, and the connection stays usable."""

    @classmethod
    def setUpClass(cls):
        cls.redis = cls.start_redis_for_class()
        cls.front = cls.start_front_for_class(cls.redis, "--queue", QUEUE, "--timeout", "5s")
        cls.worker = FakeWorker(cls.redis, QUEUE)

    def test_a_slowly_read_large_answer_arrives_whole_and_keep_alive_goes_on(self):
        body = "".join(chr(ord("a") + i % 26) for i in range(8 * 1024 * 1024))
        with HttpConnection(self.front.http_port, timeout=30) as client:
            client.request("GET", "/large")
            self.worker.take_job().answer([200, {"Content-Type": "text/plain"}, body])
            time.sleep(0.5)  # the front has written what the socket takes (8 MiB is more); the rest waits for us
            resp = client.read_response()
            self.assertEqual(resp.status, 200)
            self.assertEqual(len(resp.body), len(body))
            self.assertTrue(resp.body == body.encode(), "the body arrived changed")
            client.request("GET", "/after")
            self.worker.take_job().answer([200, {}, "next"])
            self.assertEqual(client.read_response().body, b"next")


class LongPasswordTest(TempestCase):
    """The pre-AUTH size limit never locks out the configured password."""

    def test_a_password_longer_than_answer_auth_max_size_still_authenticates(self):
        password = "p" * 6000
        redis = self.start_redis()
        front = self.start_front(redis, "--answer-password", password,
                                 "--answer-auth-max-size", "1k")
        with RespConnection(front.answer_port) as conn:
            self.assertEqual(conn.command("AUTH", password), ("+", "OK"))
        with socket.create_connection((LOOPBACK, front.answer_port), timeout=5) as s:
            s.sendall(resp_command("AUTH", "q" * 7000))  # still bounded: above the password's size
            self.assertTrue(read_until_closed(s).startswith(b"-ERR Protocol error"))
