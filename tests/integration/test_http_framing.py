"""HTTP/1.1 framing at the front: the request-smuggling classes of RFC 9112 and the size and
time limits.

Every malformed request must get its error status, the connection must close right after
that one response (so bytes smuggled behind it are never read as a request), and it must
never become a job: no worker runs here, so any pushed job would stay on the queue, and the
front's INFO jobs_pushed would move.
"""

import time

from support.harness import ConnectionClosed, FakeWorker, HttpConnection, TempestCase

QUEUE = "framing"
MAX_HEADER = 4 * 1024
MAX_BODY = 64 * 1024

# A request that would become a job if the front ever read it as one.
SMUGGLED = b"GET /smuggled HTTP/1.1\r\nHost: test\r\n\r\n"


def post(headers, body=b"", version=b"HTTP/1.1", target=b"/"):
    """A POST with Host first, then the given raw header lines."""
    head = b"POST " + target + b" " + version + b"\r\nHost: test\r\n"
    return head + b"".join(h + b"\r\n" for h in headers) + b"\r\n" + body


class FramingTest(TempestCase):

    @classmethod
    def setUpClass(cls):
        cls.redis = cls.start_redis_for_class()
        cls.front = cls.start_front_for_class(
            cls.redis, "--queue", QUEUE, "--timeout", "1s", "--header-timeout", "1s",
            "--max-header-size", str(MAX_HEADER), "--max-body-size", "64k", "--spool-routes", "")

    def setUp(self):
        self.jobs_before = self.front.info()["jobs_pushed"]
        self.bad_before = self.front.info()["bad_requests"]

    def tearDown(self):
        self.assert_no_job()

    def assert_no_job(self):
        with self.redis.client() as c:
            queued = c.lrange(QUEUE, 0, -1)
            c.delete(QUEUE)
        self.assertEqual(queued, [], "a rejected request became a job")
        self.assertEqual(self.front.info()["jobs_pushed"], self.jobs_before)

    def assert_rejected(self, data, statuses=(400,), close=True):
        """Sends data on a fresh connection; asserts one response with a status in statuses,
        then (close=True) that the front closes the connection without sending more."""
        with HttpConnection(self.front.http_port) as conn:
            try:
                conn.send(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the front may close before reading everything; the response is queued
            resp = conn.read_response()
            self.assertIn(resp.status, statuses, f"request {data[:300]!r} got {resp!r}")
            if close:
                extra = conn.wait_closed(timeout=3.0)
                self.assertEqual(extra, b"", f"bytes after the {resp.status} response")
        self.assertTrue(self.front.alive(), "front died")
        return resp

    # -- control: the same machinery accepts a well-formed request

    def test_control_a_valid_chunked_request_becomes_a_job(self):
        with HttpConnection(self.front.http_port) as conn:
            conn.send(post([b"Transfer-Encoding: chunked"], b"5;x=y\r\nhello\r\n0\r\n\r\n"))
            job = FakeWorker(self.redis, QUEUE).take_job()
            self.assertEqual(job.request["body"], "hello")
            job.answer([200, {}, "ok"])
            self.assertEqual(conn.read_response().status, 200)
        self.jobs_before += 1

    # -- Content-Length and Transfer-Encoding

    def test_content_length_and_transfer_encoding(self):
        for order in ((b"Content-Length: 5", b"Transfer-Encoding: chunked"),
                      (b"Transfer-Encoding: chunked", b"Content-Length: 5")):
            with self.subTest(order=order):
                self.assert_rejected(post(order, b"0\r\n\r\n" + SMUGGLED))

    def test_two_different_content_lengths(self):
        for headers in ([b"Content-Length: 5", b"Content-Length: 6"],
                        [b"Content-Length: 5, 6"]):
            with self.subTest(headers=headers):
                self.assert_rejected(post(headers, b"hello!" + SMUGGLED))

    def test_content_length_list_of_equal_values(self):
        # RFC 9110 8.6 lets a recipient accept "1, 1"; the front must not: the worker would
        # receive the list as the field's value.
        for value in (b"1, 1", b"1,1", b"5, 5, 5"):
            with self.subTest(value=value):
                self.assert_rejected(post([b"Content-Length: " + value], b"hello" + SMUGGLED))

    def test_content_length_with_junk(self):
        overflows = (b"9" * 40, b"18446744073709551616")  # 2**64: does not fit in 64 bits
        for value in (b"5x", b"-1", b"+5", b"0x5", b"5 5", b"", b" ") + overflows:
            with self.subTest(value=value):
                self.assert_rejected(post([b"Content-Length: " + value], b"hello" + SMUGGLED),
                                     statuses=(400, 413) if value in overflows else (400,))

    def test_transfer_encoding_not_chunked_last(self):
        for value in (b"chunked, gzip", b"gzip", b"chunked, identity", b"gzip, chunked, gzip"):
            with self.subTest(value=value):
                self.assert_rejected(post([b"Transfer-Encoding: " + value],
                                          b"0\r\n\r\n" + SMUGGLED), statuses=(400, 501))

    def test_transfer_encoding_in_http_10(self):
        self.assert_rejected(post([b"Transfer-Encoding: chunked"], b"0\r\n\r\n" + SMUGGLED,
                                  version=b"HTTP/1.0"))

    # -- header syntax

    def test_whitespace_between_header_name_and_colon(self):
        for line in (b"Content-Length : 5", b"Transfer-Encoding\t: chunked", b"X-A : 1"):
            with self.subTest(line=line):
                self.assert_rejected(post([line], b"hello" + SMUGGLED))

    def test_obs_fold_is_replaced_by_a_space(self):
        # RFC 9112 5.2: a server must either reject obs-fold or replace it with SP before
        # interpreting the value; Tempest (Beast's parser) replaces it. No CR/LF reaches a job.
        for fold in (b" folded", b"\tfolded"):
            with self.subTest(fold=fold):
                with HttpConnection(self.front.http_port) as conn:
                    conn.send(post([b"X-A: 1", fold]))
                    job = FakeWorker(self.redis, QUEUE).take_job()
                    self.assertEqual(job.request["headers"]["x-a"], "1 folded")
                    job.answer([200, {}, "ok"])
                    self.assertEqual(conn.read_response().status, 200)
                self.jobs_before += 1
        # A fold with no field before it is not obs-fold but a malformed line.
        self.assert_rejected(b"GET / HTTP/1.1\r\n Host: test\r\n\r\n")

    def test_bare_lf_line_endings(self):
        self.assert_rejected(b"GET / HTTP/1.1\nHost: test\n\n")
        self.assert_rejected(b"GET / HTTP/1.1\r\nHost: test\nX-A: 1\r\n\r\n")

    def test_bare_cr(self):
        self.assert_rejected(b"GET / HTTP/1.1\rHost: test\r\n\r\n")
        self.assert_rejected(b"GET / HTTP/1.1\r\nHost: test\r\nX-A: 1\rX-B: 2\r\n\r\n")

    def test_nul_or_cr_inside_a_header_value(self):
        for value in (b"a\x00b", b"a\rb"):
            with self.subTest(value=value):
                self.assert_rejected(post([b"X-A: " + value]))

    def test_host_missing_or_repeated(self):
        self.assert_rejected(b"GET / HTTP/1.1\r\nX-A: 1\r\n\r\n")
        self.assert_rejected(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")

    def test_invalid_method_or_target_characters(self):
        for line in (b"G@T / HTTP/1.1", b"GE\x00T / HTTP/1.1", b"GET /a\x01b HTTP/1.1",
                     b"GET /a\x7fb HTTP/1.1", b"GET /a b HTTP/1.1", b"GET  / HTTP/1.1",
                     b"GET / HTTP/1.1 ", b"GET /\x00 HTTP/1.1", b"GET / HTTZ/1.1"):
            with self.subTest(line=line):
                self.assert_rejected(line + b"\r\nHost: test\r\n\r\n")

    def test_header_name_with_invalid_characters(self):
        for line in (b"X(A): 1", b"X\x00A: 1", b": no-name"):
            with self.subTest(line=line):
                self.assert_rejected(post([line]))

    # -- chunked body syntax

    def test_invalid_chunk_size(self):
        for size in (b"zz", b"-1", b"0x5", b" 5", b""):
            with self.subTest(size=size):
                self.assert_rejected(post([b"Transfer-Encoding: chunked"],
                                          size + b"\r\nhello\r\n0\r\n\r\n"))

    def test_missing_crlf_after_chunk_data(self):
        self.assert_rejected(post([b"Transfer-Encoding: chunked"],
                                  b"5\r\nhelloXX0\r\n\r\n" + SMUGGLED))
        self.assert_rejected(post([b"Transfer-Encoding: chunked"],
                                  b"5\r\nhello\n0\r\n\r\n" + SMUGGLED))

    def test_chunk_size_overflow(self):
        self.assert_rejected(post([b"Transfer-Encoding: chunked"],
                                  b"1" + b"0" * 32 + b"\r\nhello\r\n0\r\n\r\n"))
        # fits in 64 bits but is far over the body limit
        self.assert_rejected(post([b"Transfer-Encoding: chunked"],
                                  b"fffffffffffffff\r\nhello\r\n"), statuses=(400, 413))

    # -- limits

    def test_too_long_header_is_431(self):
        self.assert_rejected(post([b"X-Big: " + b"a" * (2 * MAX_HEADER)]), statuses=(431,),
                             close=False)
        many = [b"X-H%d: %s" % (i, b"b" * 100) for i in range(2 * MAX_HEADER // 100)]
        self.assert_rejected(post(many), statuses=(431,), close=False)

    def header_of_size(self, size):
        """A GET whose request line plus headers, blank line included, is exactly size bytes,
        made of many small fields."""
        head = b"GET /sized HTTP/1.1\r\nHost: test\r\n"
        i = 0
        while len(head) + 24 + 2 < size:
            head += b"X-F%04d: %s\r\n" % (i, b"v" * 12)  # 24 bytes
            i += 1
        pad = size - len(head) - len(b"X-Pad: \r\n") - 2
        head += b"X-Pad: " + b"p" * pad + b"\r\n\r\n"
        self.assertEqual(len(head), size)
        return head

    def test_header_size_limit_is_exact(self):
        # At the limit: served. One byte more: 431, however the fields are split.
        with HttpConnection(self.front.http_port) as conn:
            conn.send(self.header_of_size(MAX_HEADER))
            job = FakeWorker(self.redis, QUEUE).take_job()
            self.assertEqual(job.request["url"], "/sized")
            job.answer([200, {}, "ok"])
            self.assertEqual(conn.read_response().status, 200)
        self.jobs_before += 1
        self.assert_rejected(self.header_of_size(MAX_HEADER + 1), statuses=(431,), close=False)

    def test_header_size_limit_counts_every_piece(self):
        # Fields arriving in several reads add up: the limit is on the whole header, not on
        # what one read brings. (The pauses only make separate reads likely; 431 is due either way.)
        data = self.header_of_size(3 * MAX_HEADER)
        with HttpConnection(self.front.http_port) as conn:
            try:
                for start in range(0, len(data), 1024):
                    conn.send(data[start:start + 1024])
                    time.sleep(0.02)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the front may answer and close before the last piece
            self.assertEqual(conn.read_response().status, 431)

    def test_too_large_content_length_is_413(self):
        self.assert_rejected(post([b"Content-Length: %d" % (MAX_BODY + 1)]), statuses=(413,),
                             close=False)

    def test_too_large_chunked_body_is_413(self):
        chunk = b"%x\r\n%s\r\n" % (16 * 1024, b"c" * 16 * 1024)
        self.assert_rejected(post([b"Transfer-Encoding: chunked"], chunk * 5 + b"0\r\n\r\n"),
                             statuses=(413,), close=False)

    def test_expect_100_continue_with_too_large_body_is_413_without_continue(self):
        with HttpConnection(self.front.http_port) as conn:
            conn.send(post([b"Content-Length: %d" % (MAX_BODY * 4), b"Expect: 100-continue"]))
            resp = conn.read_response(skip_interim=False)
            self.assertEqual(resp.status, 413, resp)

    def test_no_100_continue_for_http_10(self):
        # RFC 9110 15.2: no 1xx response to an HTTP/1.0 client; the expectation is ignored.
        with HttpConnection(self.front.http_port) as conn:
            conn.send(post([b"Content-Length: 5", b"Expect: 100-continue"], b"hello",
                           version=b"HTTP/1.0"))
            job = FakeWorker(self.redis, QUEUE).take_job()
            self.assertEqual(job.request["body"], "hello")
            job.answer([200, {}, "ok"])
            resp = conn.read_response(skip_interim=False)
            self.assertEqual(resp.status, 200, resp)
            self.assertEqual(resp.version, "HTTP/1.0")
        self.jobs_before += 1

    def assert_408(self, partial_request):
        with HttpConnection(self.front.http_port) as conn:
            conn.send(partial_request)
            start = time.monotonic()
            try:
                resp = conn.read_response()
            except ConnectionClosed:
                self.fail(f"front closed the connection after {time.monotonic() - start:.1f}s "
                          f"without sending 408 (request {partial_request!r})")
            self.assertEqual(resp.status, 408, resp)
            self.assert_elapsed_between(start, 0.7, 3.0, "408")
            self.assertEqual(conn.wait_closed(), b"")

    def test_headers_must_arrive_within_header_timeout(self):
        self.assert_408(b"GET / HTTP/1.1\r\nHost: test\r\n")

    def test_body_must_arrive_within_header_timeout(self):
        self.assert_408(post([b"Content-Length: 10"], b"abc"))

    def test_keep_alive_outlives_the_header_timeout(self):
        # The header deadline (1 s here) of a finished request must not close the idle
        # connection: only --keepalive-timeout (75 s) does (the deadline is re-armed lazily).
        with HttpConnection(self.front.http_port) as conn:
            for i in range(2):
                conn.send(b"GET /ka HTTP/1.1\r\nHost: test\r\n\r\n")
                FakeWorker(self.redis, QUEUE).take_job().answer([200, {}, f"ka{i}"])
                resp = conn.read_response()
                self.assertEqual((resp.status, resp.body), (200, f"ka{i}".encode()))
                if i == 0:
                    time.sleep(1.6)
        self.jobs_before += 2

    def test_idle_keep_alive_connection_closes_after_keepalive_timeout(self):
        front = self.start_front(self.redis, "--queue", QUEUE, "--keepalive-timeout", "300ms")
        with HttpConnection(front.http_port) as conn:
            conn.send(b"GET /idle HTTP/1.1\r\nHost: test\r\n\r\n")
            FakeWorker(self.redis, QUEUE).take_job().answer([200, {}, "x"])
            self.assertEqual(conn.read_response().status, 200)
            start = time.monotonic()
            self.assertEqual(conn.wait_closed(), b"")
            self.assert_elapsed_between(start, 0.2, 2.0, "the idle close")

    def test_malformed_request_pipelined_behind_a_good_one(self):
        with HttpConnection(self.front.http_port) as conn:
            conn.send(b"GET /good HTTP/1.1\r\nHost: test\r\n\r\n"
                      b"GET /bad HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n" + SMUGGLED)
            job = FakeWorker(self.redis, QUEUE).take_job()
            self.assertEqual(job.request["url"], "/good")
            job.answer([200, {}, "good"])
            first = conn.read_response()
            self.assertEqual((first.status, first.body), (200, b"good"))
            second = conn.read_response()
            self.assertEqual(second.status, 400, second)
            self.assertEqual(conn.wait_closed(), b"")
        self.jobs_before += 1

    def test_bad_requests_counter(self):
        self.assert_rejected(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")
        self.assertGreater(self.front.info()["bad_requests"], self.bad_before)
