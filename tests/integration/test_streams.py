"""Streamed answers and answers to many connections (docs/protocol.md section 10).

The worker is the test itself: it pops the job (FakeWorker) and speaks the stream commands
(`stream`, `chunk`, `end`, `mchunk`, `mend`, `murl`) over a raw RESP connection to the job's
respond_to; the client is a raw HTTP connection (or curl), so every byte of the framing is
checked.
"""

import hashlib
import json
import socket
import threading
import time

from support.harness import (LOOPBACK, FakeWorker, HttpConnection, RespConnection, TempestCase,
                             curl, split_host_port, wait_until)
from support.wire import ConnectionClosed

QUEUE = "streams"
IDLE = 0.4  # --stream-idle-timeout of these fronts, seconds


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def resp_to(job):
    host, port = split_host_port(job.respond_to)
    return RespConnection(port)


def pattern(start, n):
    """n bytes of the stream_worker pattern (byte i is i % 251) from offset start."""
    block = bytes(i % 251 for i in range(251))
    first = start % 251
    out = (block[first:] + block * (n // 251 + 2))[:n]
    return out


class StreamCase(TempestCase):
    flags = ()
    idle = IDLE

    @classmethod
    def setUpClass(cls):
        cls.redis = cls.start_redis_for_class()
        cls.front = cls.start_front_for_class(cls.redis, "--queue", QUEUE, "--timeout", "10s",
                                              "--stream-idle-timeout", f"{int(cls.idle * 1000)}ms",
                                              *cls.flags)
        cls.worker = FakeWorker(cls.redis, QUEUE)

    def open_stream(self, client, target="/s", head=None, method="GET", version="HTTP/1.1"):
        client.request(method, target, version=version)
        job = self.worker.take_job()
        conn = resp_to(job)
        self.addCleanup(conn.close)
        head = head if head is not None else [200, {"Content-Type": "application/octet-stream"}]
        self.assertEqual(conn.command("stream", job.job_id, json.dumps(head)), ("+", "OK"))
        return job, conn


class StreamFramingTest(StreamCase):
    def test_chunks_arrive_as_sent_with_chunked_framing_and_keep_alive_goes_on(self):
        with HttpConnection(self.front.http_port) as client:
            job, conn = self.open_stream(client)
            # The head is written when it arrives, before any chunk.
            version, status, _, headers = client._read_head()
            self.assertEqual(status, 200)
            self.assertIn(("transfer-encoding", "chunked"), headers)
            self.assertNotIn("content-length", dict(headers))
            parts = [b"\x00\xff\r\n0\r\n\r\n", b"", bytes(range(256)) * 300, b"last"]
            for p in parts:
                self.assertEqual(conn.command("chunk", job.job_id, p), ("+", "OK"))
            self.assertEqual(conn.command("end", job.job_id), ("+", "OK"))
            self.assertEqual(client._read_chunked(), b"".join(parts))
            # The same connection serves the next request.
            client.request("GET", "/next")
            self.worker.take_job().answer([200, {}, "next"])
            self.assertEqual(client.read_response().body, b"next")
            # The job is done: more commands for it are refused.
            kind, text = conn.command("chunk", job.job_id, b"late")
            self.assertEqual(kind, "-")
            self.assertTrue(text.startswith(f"ERR no open stream {job.job_id}"), text)

    def test_a_body_in_the_head_is_the_first_bytes(self):
        with HttpConnection(self.front.http_port) as client:
            job, conn = self.open_stream(client, head=[201, {"X-A": "1"}, "first,"])
            conn.command("chunk", job.job_id, b"second")
            conn.command("end", job.job_id)
            resp = client.read_response()
            self.assertEqual((resp.status, resp.body, resp.header("x-a")), (201, b"first,second", "1"))

    def test_a_declared_length_is_sent_as_is(self):
        with HttpConnection(self.front.http_port) as client:
            job, conn = self.open_stream(client, head=[200, {"Content-Length": "10"}])
            conn.command("chunk", job.job_id, b"01234")
            conn.command("chunk", job.job_id, b"56789")
            self.assertEqual(conn.command("end", job.job_id), ("+", "OK"))
            resp = client.read_response()
            self.assertEqual(resp.header("content-length"), "10")
            self.assertIsNone(resp.header("transfer-encoding"))
            self.assertEqual(resp.body, b"0123456789")
            self.assertTrue(client.is_open())

    def test_more_bytes_than_declared_are_cut_and_the_connection_closed(self):
        with HttpConnection(self.front.http_port) as client:
            job, conn = self.open_stream(client, head=[200, {"Content-Length": 4}])
            kind, text = conn.command("chunk", job.job_id, b"abcdef")
            self.assertEqual((kind, text), ("-", "ERR stream longer than its Content-Length (4 bytes)"))
            version, status, _, headers = client._read_head()
            self.assertEqual(client._read_exact(4), b"abcd")
            self.assertEqual(client.wait_closed(), b"")

    def test_fewer_bytes_than_declared_close_the_connection(self):
        with HttpConnection(self.front.http_port) as client:
            job, conn = self.open_stream(client, head=[200, {"Content-Length": "9"}])
            conn.command("chunk", job.job_id, b"abc")
            kind, text = conn.command("end", job.job_id)
            self.assertEqual((kind, text), ("-", "ERR stream ended after 3 of its 9 bytes (Content-Length)"))
            client._read_head()
            self.assertEqual(client.wait_closed(), b"abc")

    def test_a_bad_declared_length_is_an_invalid_answer(self):
        for bad in ("-1", "1,1", "ten", ["1"]):
            with self.subTest(bad=bad), HttpConnection(self.front.http_port) as client:
                client.request("GET", "/bad")
                job = self.worker.take_job()
                with resp_to(job) as conn:
                    kind, text = conn.command("stream", job.job_id, json.dumps([200, {"content-length": bad}]))
                self.assertEqual(kind, "-")
                self.assertTrue(text.startswith("ERR invalid answer:"), text)
                self.assertEqual(client.read_response().status, 502)

    def test_an_http_1_0_client_gets_a_close_delimited_body(self):
        with HttpConnection(self.front.http_port) as client:
            job, conn = self.open_stream(client, version="HTTP/1.0")
            conn.command("chunk", job.job_id, b"one ")
            conn.command("chunk", job.job_id, b"two")
            conn.command("end", job.job_id)
            resp = client.read_response()
            self.assertEqual(resp.version, "HTTP/1.0")
            self.assertIsNone(resp.header("transfer-encoding"))
            self.assertIsNone(resp.header("content-length"))
            self.assertEqual(resp.body, b"one two")

    def test_head_requests_get_the_head_and_the_chunks_are_dropped(self):
        with HttpConnection(self.front.http_port) as client:
            job, conn = self.open_stream(client, method="HEAD")
            self.assertEqual(conn.command("chunk", job.job_id, b"dropped"), ("+", "OK"))
            self.assertEqual(conn.command("end", job.job_id), ("+", "OK"))
            resp = client.read_response(head=True)
            self.assertEqual(resp.status, 200)
            client.request("GET", "/after-head")
            self.worker.take_job().answer([200, {}, "after"])
            self.assertEqual(client.read_response().body, b"after")

    def test_curl_reads_a_stream(self):
        result = {}

        def fetch():
            result["r"] = curl(f"http://{LOOPBACK}:{self.front.http_port}/curl", timeout=10)

        t = threading.Thread(target=fetch)
        t.start()
        job = self.worker.take_job()
        with resp_to(job) as conn:
            conn.command("stream", job.job_id, json.dumps([200, {}]))
            for i in range(10):
                conn.command("chunk", job.job_id, b"%d;" % i)
            conn.command("end", job.job_id)
        t.join(15)
        self.assertEqual(result["r"].returncode, 0, result["r"].stderr)
        self.assertEqual(result["r"].stdout, b"".join(b"%d;" % i for i in range(10)))


class StreamErrorsTest(StreamCase):
    def test_malformed_stream_commands_get_clear_errors(self):
        with HttpConnection(self.front.http_port) as client:
            client.request("GET", "/m")
            job = self.worker.take_job()
            with resp_to(job) as conn:
                cases = [
                    (("chunk", job.job_id, b"x"), "ERR no open stream"),      # no head yet
                    (("end", job.job_id), "ERR no open stream"),
                    (("chunk", "abc", b"x"), "ERR no open stream abc"),       # bad id
                    (("chunk", job.job_id), "ERR wrong number of arguments: chunk"),
                    (("end",), "ERR wrong number of arguments: end"),
                    (("stream", job.job_id), "ERR wrong number of arguments: stream"),
                    (("mchunk", "1  2", b"x"), "ERR bad id list:"),
                    (("mchunk", "", b"x"), "ERR bad id list:"),
                    (("mend", "1,x"), "ERR bad id list:"),
                    (("murl", "1"), "ERR wrong number of arguments: murl"),
                ]
                for args, prefix in cases:
                    with self.subTest(args=args[:2]):
                        kind, text = conn.command(*args)
                        self.assertEqual(kind, "-")
                        self.assertTrue(text.startswith(prefix), text)
                # The job still waits: a valid head starts it, a second head or an answer is refused.
                self.assertEqual(conn.command("stream", job.job_id, "[200,{}]"), ("+", "OK"))
                for again in (("stream", job.job_id, "[200,{}]"), ("url", job.job_id, '[200,{},"x"]')):
                    kind, text = conn.command(*again)
                    self.assertEqual(kind, "-")
                    self.assertTrue(text.startswith(f"ERR unknown job {job.job_id}"), text)
                conn.command("chunk", job.job_id, b"ok")
                conn.command("end", job.job_id)
                kind, text = conn.command("chunk", job.job_id, b"after end")
                self.assertTrue(text.startswith("ERR no open stream"), text)
                self.assertEqual(conn.command("ping"), ("+", "PONG"))
            self.assertEqual(client.read_response().body, b"ok")

    def test_a_silent_stream_is_cut_after_the_idle_timeout(self):
        with HttpConnection(self.front.http_port, timeout=10) as client:
            job, conn = self.open_stream(client)
            conn.command("chunk", job.job_id, b"partial")
            conn.close()  # the worker "dies": nothing more comes
            started = time.monotonic()
            client._read_head()
            self.assertEqual(client.wait_closed(timeout=5), b"7\r\npartial\r\n")  # no last chunk
            self.assertLess(time.monotonic() - started, IDLE + 2.0)
        self.assertGreaterEqual(self.front.counter("streams_cut"), 1)
        with resp_to(job) as conn2:
            kind, text = conn2.command("chunk", job.job_id, b"too late")
            self.assertTrue(text.startswith("ERR no open stream"), text)

    def test_a_client_that_leaves_makes_the_next_write_fail_and_cancels_the_job(self):
        client = HttpConnection(self.front.http_port)
        job, conn = self.open_stream(client)
        self.assertEqual(conn.command("chunk", job.job_id, b"hello"), ("+", "OK"))
        client.close()
        deadline = time.monotonic() + 3
        while True:
            kind, text = conn.command("chunk", job.job_id, b"more")
            if kind == "-" or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        self.assertEqual(kind, "-")
        self.assertTrue(text.startswith(f"ERR no open stream {job.job_id}"), text)
        with self.redis.client() as r:
            self.assertEqual(r.hget("tempest:cancelled", f"{job.respond_to}/{job.job_id}"), b"1")

    def test_an_oversized_chunk_cuts_its_stream_and_the_connection_goes_on(self):
        redis = self.start_redis()
        front = self.start_front(redis, "--queue", QUEUE, "--max-answer-size", "4k")
        worker = FakeWorker(redis, QUEUE)
        with HttpConnection(front.http_port) as client:
            client.request("GET", "/big")
            job = worker.take_job()
            host, port = split_host_port(job.respond_to)
            with RespConnection(port) as conn:
                conn.command("stream", job.job_id, "[200,{}]")
                conn.command("chunk", job.job_id, b"small")
                kind, text = conn.command("chunk", job.job_id, b"x" * 8000)
                self.assertEqual(kind, "-")
                self.assertTrue(text.startswith("ERR message larger than --max-answer-size"), text)
                self.assertEqual(conn.command("ping"), ("+", "PONG"))
            client._read_head()
            self.assertEqual(client.wait_closed(), b"5\r\nsmall\r\n")


class AbortTest(StreamCase):
    idle = 20  # far longer than the test: only `abort` can end these streams in time

    def test_abort_cuts_the_body_at_once_and_later_commands_fail(self):
        with HttpConnection(self.front.http_port, timeout=10) as client:
            job, conn = self.open_stream(client)
            client._read_head()
            self.assertEqual(conn.command("chunk", job.job_id, b"partial"), ("+", "OK"))
            start = time.monotonic()
            self.assertEqual(conn.command("abort", job.job_id), ("+", "OK"))
            self.assertEqual(client._read_exact(len(b"7\r\npartial\r\n")), b"7\r\npartial\r\n")
            self.assertEqual(client.wait_closed(5), b"")  # no last chunk: the body is cut
            self.assertLess(time.monotonic() - start, 5)
            kind, text = conn.command("chunk", job.job_id, b"late")
            self.assertEqual(kind, "-")
            self.assertTrue(text.startswith("ERR no open stream"), text)
            self.assertEqual(conn.command("abort", job.job_id)[0], "-")
            self.assertTrue(conn.command("abort")[1].startswith("ERR wrong number of arguments"))
        self.assertIn("the worker aborted it", self.front.log())

    def test_a_handler_that_throws_mid_stream_has_its_stream_aborted(self):
        worker = self.start_worker("stream_worker", self.redis, QUEUE)
        start = time.monotonic()
        r = curl(f"http://{LOOPBACK}:{self.front.http_port}/stream?bytes=1000000&fail_at=200000", timeout=15)
        self.assertNotEqual(r.returncode, 0)  # curl: the transfer closed with data outstanding
        self.assertEqual(len(r.stdout), 200000)
        self.assertEqual(r.stdout, pattern(0, 200000))
        self.assertLess(time.monotonic() - start, 10)
        self.assertIn("fail_at reached", worker.log())
        worker.kill()


class ManyConnectionsTest(StreamCase):
    def test_one_chunk_reaches_a_thousand_hanging_gets(self):
        n = 1000
        clients = [HttpConnection(self.front.http_port, timeout=20) for _ in range(n)]
        try:
            for i, c in enumerate(clients):
                c.request("GET", f"/hang/{i}")
            jobs = {}
            with self.redis.client() as r:
                while len(jobs) < n:
                    item = r.blpop([QUEUE], timeout=10)
                    self.assertIsNotNone(item, f"{len(jobs)} jobs of {n} arrived")
                    payload = json.loads(item[1])
                    jobs[payload[1][0]["url"]] = payload[3]
            ids = [jobs[f"/hang/{i}"] for i in range(n)]
            respond_to = json.loads(item[1])[2]
            host, port = split_host_port(respond_to)
            with RespConnection(port, timeout=20) as conn:
                for job_id in ids:
                    conn.send_raw(b"*3\r\n$6\r\nstream\r\n$%d\r\n%d\r\n$8\r\n[200,{}]\r\n" % (len(str(job_id)), job_id))
                for _ in ids:
                    self.assertEqual(conn.read_reply(), ("+", "OK"))
                unknown = 12345
                kind, missed = conn.command("mchunk", " ".join(map(str, ids + [unknown])), b"news!")
                self.assertEqual(kind, "*")
                self.assertEqual(missed, [("$", str(unknown).encode())])
                for c in clients:
                    c._read_head()
                    self.assertEqual(c._read_line(), b"5")
                    self.assertEqual(c._read_exact(7), b"news!\r\n")
                kind, missed = conn.command("mend", ",".join(map(str, ids)))
                self.assertEqual((kind, missed), ("*", []))
                for c in clients:
                    self.assertEqual(c._read_exact(5), b"0\r\n\r\n")
        finally:
            for c in clients:
                c.close()

    def test_one_answer_completes_many_waiting_requests(self):
        clients = [HttpConnection(self.front.http_port) for _ in range(20)]
        try:
            for c in clients:
                c.request("GET", "/poll")
            jobs = [self.worker.take_job() for _ in clients]
            with resp_to(jobs[0]) as conn:
                ids = ",".join(str(j.job_id) for j in jobs)
                kind, missed = conn.command("murl", ids + ",7", json.dumps([200, {"X-Many": "1"}, "for all"]))
                self.assertEqual((kind, missed), ("*", [("$", b"7")]))
                for c in clients:
                    resp = c.read_response()
                    self.assertEqual((resp.status, resp.body, resp.header("x-many")), (200, b"for all", "1"))
                # Answered: a second murl reaches nobody.
                kind, missed = conn.command("murl", ids, json.dumps([200, {}, "again"]))
                self.assertEqual(len(missed), len(jobs))
        finally:
            for c in clients:
                c.close()

    def test_an_invalid_answer_to_many_fails_them_all(self):
        clients = [HttpConnection(self.front.http_port) for _ in range(3)]
        try:
            for c in clients:
                c.request("GET", "/poll")
            jobs = [self.worker.take_job() for _ in clients]
            with resp_to(jobs[0]) as conn:
                kind, text = conn.command("murl", " ".join(str(j.job_id) for j in jobs), "[99]")
                self.assertEqual(kind, "-")
                self.assertTrue(text.startswith("ERR invalid answer:"), text)
            for c in clients:
                self.assertEqual(c.read_response().status, 502)
        finally:
            for c in clients:
                c.close()


class LargeStreamTest(StreamCase):
    flags = ("--stream-buffer", "1m")
    idle = 10  # a slow reader frees the front's socket buffer in steps, not byte by byte

    def pump(self, job, total, chunk=64 * 1024):
        """Sends `total` pattern bytes in chunks, pipelined; the replies are read by a thread.
        Returns (thread, state): state["sent"] counts the bytes handed to the socket."""
        host, port = split_host_port(job.respond_to)
        sock = socket.create_connection((host, port), timeout=30)
        state = {"sent": 0, "errors": [], "sock": sock}
        self.addCleanup(sock.close)
        head = json.dumps([200, {"Content-Type": "application/octet-stream"}]).encode()
        sid = str(job.job_id).encode()

        def cmd(*parts):
            return b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts)

        def reader():
            f = sock.makefile("rb")
            try:
                for line in f:
                    if line.startswith(b"-") and len(state["errors"]) < 5:
                        state["errors"].append(line)
            except OSError:
                pass

        threading.Thread(target=reader, daemon=True).start()

        def writer():
            try:
                sock.sendall(cmd(b"stream", sid, head))
                offset = 0
                while offset < total:
                    n = min(chunk, total - offset)
                    sock.sendall(cmd(b"chunk", sid, pattern(offset, n)))
                    offset += n
                    state["sent"] = offset
                sock.sendall(cmd(b"end", sid))
            except OSError as e:
                state["errors"].append(repr(e))

        t = threading.Thread(target=writer, daemon=True)
        t.start()
        return t, state

    def test_a_gigabyte_stream_arrives_intact_in_bounded_memory(self):
        total = 1 << 30
        # Chunks of a fixed pattern sent fast; the bytes are checked by SHA-256.
        expected = hashlib.sha256()
        with HttpConnection(self.front.http_port, timeout=30) as client:
            client.request("GET", "/gig")
            job = self.worker.take_job()
            rss_before = rss_kb(self.front.pid)
            writer, state = self.pump(job, total)
            client._read_head()
            got = hashlib.sha256()
            size = 0
            peak = 0
            while True:
                n = int(client._read_line(), 16)
                if n == 0:
                    client._read_line()
                    break
                data = client._read_exact(n)
                got.update(data)
                expected.update(pattern(size, n))
                size += n
                client._read_exact(2)
                if size % (32 << 20) < n:
                    peak = max(peak, rss_kb(self.front.pid))
            writer.join(30)
        self.assertEqual(size, total)
        self.assertEqual(got.hexdigest(), expected.hexdigest())
        self.assertEqual(state["errors"], [])
        self.assertLess(peak, 64 * 1024, f"front RSS peaked at {peak} KiB (before: {rss_before} KiB)")

    def test_a_slow_reader_holds_the_worker_back(self):
        with HttpConnection(self.front.http_port, timeout=30) as client:
            client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 256 * 1024)
            client.request("GET", "/slow")
            job = self.worker.take_job()
            rss_before = rss_kb(self.front.pid)
            writer, state = self.pump(job, 256 << 20)
            received = 0
            started = time.monotonic()
            while time.monotonic() - started < 3:  # about 1 MiB/s
                data = client.sock.recv(64 * 1024)
                self.assertTrue(data)
                received += len(data)
                time.sleep(0.06)
            rss_after = rss_kb(self.front.pid)
            # The worker could send 256 MiB at once; it sent about what was read plus the
            # buffers on the way (socket buffers, the stream's twice --stream-buffer).
            self.assertEqual(state["errors"], [])
            self.assertLess(state["sent"], received + (24 << 20), f"sent {state['sent']}, read {received}")
            self.assertLess(rss_after - rss_before, 16 * 1024, f"RSS {rss_before} -> {rss_after} KiB")
            # Other jobs on other connections are not held back.
            with HttpConnection(self.front.http_port) as other:
                other.request("GET", "/other")
                self.worker.take_job().answer([200, {}, "fast"])
                self.assertEqual(other.read_response().body, b"fast")
            state["sock"].close()


def pattern_sha256(n):
    h = hashlib.sha256()
    block = bytes(i % 251 for i in range(251)) * 1024  # a multiple of 251: every block starts at 0
    while n > 0:
        h.update(block[:min(n, len(block))])
        n -= len(block)
    return h.hexdigest()


class StreamWorkerTest(TempestCase):
    """examples/stream_worker (libtempest's response::stream()) through the real front."""

    @classmethod
    def setUpClass(cls):
        cls.redis = cls.start_redis_for_class()
        cls.front = cls.start_front_for_class(cls.redis, "--queue", QUEUE,
                                              "--stream-idle-timeout", "1s")
        cls.worker = cls.start_worker_for_class("stream_worker", cls.redis, QUEUE, "--log-level", "debug")

    def url(self, target):
        return f"http://{LOOPBACK}:{self.front.http_port}{target}"

    def test_curl_gets_the_pattern_chunked_and_with_a_length(self):
        for target, n in (("/stream?bytes=10000000", 10_000_000), ("/stream?bytes=70000&length=1", 70_000),
                          ("/stream?bytes=0", 0)):
            with self.subTest(target=target):
                r = curl("-D", "-", "-o", "/dev/null", "-w", "%{size_download}", self.url(target))
                self.assertEqual(r.returncode, 0, r.stderr)
                body = curl(self.url(target), timeout=30).stdout
                self.assertEqual(len(body), n)
                self.assertEqual(hashlib.sha256(body).hexdigest(), pattern_sha256(n))
                headers = r.stdout.decode().lower()
                if "length=1" in target:
                    self.assertIn(f"content-length: {n}", headers)
                else:
                    self.assertIn("transfer-encoding: chunked", headers)

    def test_upload_answers_the_sha256_of_the_body(self):
        body = bytes(range(256)) * 1000
        with HttpConnection(self.front.http_port) as client:
            client.request("POST", "/upload", headers={"Content-Type": "application/octet-stream"}, body=body)
            resp = client.read_response()
        self.assertEqual(resp.status, 200)
        self.assertEqual(resp.body.decode().strip(), hashlib.sha256(body).hexdigest())

    def test_kept_streams_take_one_push_per_front_and_report_who_left(self):
        # GET /hang keeps its stream (body_stream::keep); POST /push sends one mchunk through a
        # tempest::fanout and answers "<reached> <gone>".
        clients = [HttpConnection(self.front.http_port, timeout=10) for _ in range(20)]
        try:
            for c in clients:
                c.request("GET", "/hang")
            for c in clients:
                self.assertEqual(c._read_head()[1], 200)
            push = lambda q: curl("-X", "POST", self.url("/push?" + q)).stdout.decode().split()
            wait_until(lambda: push("data=") == ["20", "0"], 5, message="the 20 hanging GETs to be kept")
            self.assertEqual(push("data=hello"), ["20", "0"])
            for c in clients:
                self.assertEqual(c._read_exact(len(b"5\r\nhello\r\n")), b"5\r\nhello\r\n")
            clients.pop().close()  # the front cuts that stream: the next push reports it
            wait_until(lambda: push("data=") == ["19", "1"], 5, message="the closed client to be reported")
            self.assertEqual(push("data=bye&end=1"), ["19", "0"])
            for c in clients:
                self.assertEqual(c._read_chunked(), b"bye")
                self.assertTrue(c.is_open())  # the stream ended properly: keep-alive goes on
        finally:
            for c in clients:
                c.close()

    def test_a_client_that_leaves_makes_the_workers_write_fail(self):
        cancelled_before = self.front.counter("cancelled")
        with HttpConnection(self.front.http_port, timeout=10) as client:
            client.request("GET", "/stream?bytes=10000000000")  # 10 GB: never done by itself
            client._read_head()
            client._read_exact(1 << 20)
        # The front sees the close, cuts the stream; the worker's next write gets the error.
        wait_until(lambda: "stream ended early: ERR no open stream" in self.worker.log(), 10,
                   message="the worker to log that its stream ended")
        self.assertGreater(self.front.counter("cancelled"), cancelled_before)
        # The worker goes on serving.
        body = curl(self.url("/stream?bytes=1000")).stdout
        self.assertEqual(len(body), 1000)

    def test_a_worker_killed_mid_stream_gives_a_cut_body_within_the_idle_timeout(self):
        redis = self.start_redis()
        front = self.start_front(redis, "--queue", QUEUE, "--stream-idle-timeout", "1s")
        worker = self.start_worker("stream_worker", redis, QUEUE)
        with HttpConnection(front.http_port, timeout=10) as client:
            client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
            client.request("GET", "/stream?bytes=10000000000")
            client._read_head()
            client._read_exact(4 << 20)  # the chunk framing is checked on the bytes that follow
            worker.kill()
            started = time.monotonic()
            rest = client.wait_closed(timeout=8)
            self.assertFalse(rest.endswith(b"\r\n0\r\n\r\n"), "the cut body ended with the last chunk")
            self.assertLess(time.monotonic() - started, 6, "the cut took too long")
        self.assertGreaterEqual(front.counter("streams_cut"), 1)
