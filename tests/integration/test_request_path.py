"""The canonical path: HTTP request -> job in Redis -> worker -> answer -> HTTP response.

Real redis-server, real front, real example workers (hello_worker, echo_worker), and a worker
written in the test itself when the job's exact bytes matter. Framing attacks live in
test_http_framing.py, bad answers in test_answers.py.
"""

import base64
import json
import os
import threading
import time

import redis as redis_py

from support.harness import (FakeWorker, HttpConnection, Job, TempestCase, answer, build_request,
                             curl, http_request, wait_until)


class HelloWorkerTest(TempestCase):
    """GET / through build/examples/hello_worker."""

    @classmethod
    def setUpClass(cls):
        cls.redis = cls.start_redis_for_class()
        cls.front = cls.start_front_for_class(cls.redis, "--timeout", "3s")
        cls.worker = cls.start_worker_for_class("hello_worker", cls.redis)

    def test_get_answers_hello_world(self):
        resp = http_request(self.front.http_port, "GET", "/")
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual(resp.body, b"Hello world!")
        self.assertTrue(resp.header("content-type").startswith("text/plain"), resp)
        self.assertEqual(resp.header("content-length"), "12")

    def test_curl_gets_hello_world(self):
        result = curl("-i", f"http://127.0.0.1:{self.front.http_port}/from-curl")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertTrue(result.stdout.startswith(b"HTTP/1.1 200"), result.stdout[:200])
        self.assertTrue(result.stdout.endswith(b"\r\n\r\nHello world!"), result.stdout[-200:])

    def test_head_has_content_length_and_no_body(self):
        with HttpConnection(self.front.http_port) as conn:
            conn.request("HEAD", "/")
            head = conn.read_response(head=True)
            self.assertEqual(head.status, 200, head)
            self.assertEqual(head.header("content-length"), "12")
            # Were a body sent after the HEAD response, it would be read here as a bad status
            # line; the GET on the same connection proves the stream is still in step.
            conn.request("GET", "/")
            get = conn.read_response()
        self.assertEqual(get.status, 200, get)
        self.assertEqual(get.body, b"Hello world!")

    def test_keep_alive_serves_several_requests_on_one_connection(self):
        with HttpConnection(self.front.http_port) as conn:
            for i in range(5):
                conn.request("GET", f"/keep/{i}")
                resp = conn.read_response()
                self.assertEqual(resp.status, 200, resp)
                self.assertEqual(resp.body, b"Hello world!")
            self.assertTrue(conn.is_open(), "front closed a keep-alive connection")

    def test_connection_close_is_honoured(self):
        with HttpConnection(self.front.http_port) as conn:
            conn.request("GET", "/", {"Connection": "close"})
            resp = conn.read_response()
            self.assertEqual(resp.status, 200, resp)
            self.assertEqual(conn.wait_closed(), b"")

    def test_http_10_request_is_served_and_closed(self):
        with HttpConnection(self.front.http_port) as conn:
            conn.send(b"GET /old HTTP/1.0\r\n\r\n")
            resp = conn.read_response()
            self.assertEqual(resp.status, 200, resp)
            self.assertEqual(resp.body, b"Hello world!")
            self.assertEqual(conn.wait_closed(), b"")

    def test_idle_keep_alive_connection_closes_after_keepalive_timeout(self):
        front = self.start_front(self.redis, "--timeout", "3s", "--keepalive-timeout", "500ms")
        with HttpConnection(front.http_port) as conn:
            conn.request("GET", "/")
            self.assertEqual(conn.read_response().status, 200)
            start = time.monotonic()
            self.assertEqual(conn.wait_closed(timeout=4.0), b"")
            self.assert_elapsed_between(start, 0.3, 3.0, "idle close")

    def test_counters_count_a_request(self):
        before = self.front.info()
        self.assertEqual(http_request(self.front.http_port).status, 200)
        after = self.front.info()
        for name in ("requests_total", "jobs_pushed", "answers_accepted"):
            self.assertEqual(after[name], before[name] + 1, name)
        self.assertEqual(after["pending_jobs"], 0)


class EchoWorkerTest(TempestCase):
    """build/examples/echo_worker answers with a JSON view of the request it received."""

    @classmethod
    def setUpClass(cls):
        cls.redis = cls.start_redis_for_class()
        cls.front = cls.start_front_for_class(cls.redis, "--timeout", "3s",
                                              "--max-body-size", "1m")
        # Two workers, so that a slow request does not hold back the one pipelined behind it.
        cls.workers = [cls.start_worker_for_class("echo_worker", cls.redis) for _ in range(2)]

    def echo(self, method="GET", target="/", headers=None, body=None):
        resp = http_request(self.front.http_port, method, target, headers, body)
        self.assertEqual(resp.status, 200, resp)
        self.assertTrue(resp.header("content-type").startswith("application/json"), resp)
        return resp.json()

    def test_echo_sees_method_url_path_query_and_headers(self):
        seen = self.echo("GET", "/some/path?a=1&b=two", {"X-Custom": "Value"})
        self.assertEqual(seen["method"], "GET")
        self.assertEqual(seen["url"], "/some/path?a=1&b=two")
        self.assertEqual(seen["path"], "/some/path")
        self.assertIn(seen["query"], ("a=1&b=two", {"a": "1", "b": "two"}))
        self.assertEqual(seen["headers"]["x-custom"], "Value")
        self.assertEqual(seen["headers"]["host"], "test")
        self.assertTrue(seen["remote_addr"].startswith("127.0.0.1"), seen["remote_addr"])
        self.assertIn("1.1", seen["http_version"])
        self.assertFalse(seen.get("body_base64"), "a GET without body echoed a body")

    def test_post_with_content_length_body(self):
        seen = self.echo("POST", "/post", body=b"hello=world")
        self.assertEqual(seen["method"], "POST")
        self.assertEqual(base64.b64decode(seen["body_base64"]), b"hello=world")

    def test_post_with_chunked_body(self):
        with HttpConnection(self.front.http_port) as conn:
            conn.send(b"POST /chunked HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n"
                      b"5\r\nhello\r\n1;ext=1\r\n \r\n6\r\nworld!\r\n0\r\nX-Trailer: t\r\n\r\n")
            resp = conn.read_response()
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual(base64.b64decode(resp.json()["body_base64"]), b"hello world!")

    def test_all_256_byte_values_travel_intact(self):
        body = bytes(range(256))
        seen = self.echo("POST", "/bytes", {"Content-Type": "application/octet-stream"}, body)
        self.assertEqual(base64.b64decode(seen["body_base64"]), body)

    def test_random_200_kib_body_travels_intact(self):
        body = os.urandom(200 * 1024)
        seen = self.echo("PUT", "/random", body=body)
        self.assertEqual(seen["method"], "PUT")
        self.assertEqual(base64.b64decode(seen["body_base64"]), body)

    def test_body_near_the_size_limit_works_and_one_byte_more_is_413(self):
        # No route spools: over max-body-size is 413 (test_uploads.py: routes that spool).
        front = self.start_front(self.redis, "--timeout", "3s", "--max-body-size", "64k", "--spool-routes", "")
        body = os.urandom(64 * 1024)
        resp = http_request(front.http_port, "POST", "/limit", body=body)
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual(base64.b64decode(resp.json()["body_base64"]), body)
        resp = http_request(front.http_port, "POST", "/limit", body=body + b"x")
        self.assertEqual(resp.status, 413, resp)

    def test_expect_100_continue(self):
        with HttpConnection(self.front.http_port) as conn:
            conn.send(b"POST /expect HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\n"
                      b"Expect: 100-continue\r\n\r\n")
            interim = conn.read_response(skip_interim=False)
            self.assertEqual(interim.status, 100, interim)
            conn.send(b"hello")
            resp = conn.read_response()
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual(base64.b64decode(resp.json()["body_base64"]), b"hello")

    def test_pipelined_requests_are_answered_in_order(self):
        targets = ["/sleep?ms=400&n=1", "/pipe?n=2", "/pipe?n=3"]
        with HttpConnection(self.front.http_port) as conn:
            conn.send(b"".join(build_request("GET", t) for t in targets))
            urls = [conn.read_response().json()["url"] for _ in targets]
        self.assertEqual(urls, targets)

    def test_worker_chosen_status(self):
        for code in (201, 404, 503):
            with self.subTest(code=code):
                resp = http_request(self.front.http_port, "GET", f"/status?code={code}")
                self.assertEqual(resp.status, code, resp)

    def test_duplicate_request_headers_are_joined(self):
        seen = self.echo("GET", "/dup", [("X-Dup", "a"), ("X-Dup", "b")])
        self.assertEqual(seen["headers"]["x-dup"], "a, b")


class HandWorkerTest(TempestCase):
    """The test is the worker: it pops the job, checks its exact shape and answers by hand."""

    QUEUE = "hand"

    @classmethod
    def setUpClass(cls):
        cls.redis = cls.start_redis_for_class()
        cls.front = cls.start_front_for_class(cls.redis, "--timeout", "3s", "--queue", cls.QUEUE)
        cls.worker = FakeWorker(cls.redis, cls.QUEUE)

    def test_job_format(self):
        with HttpConnection(self.front.http_port) as conn:
            conn.send(b"POST /p/a?x=1&y=2 HTTP/1.1\r\nHost: example.test\r\nX-Dup: a\r\n"
                      b"X-Dup: b\r\nX-Mixed-Case: V\r\nContent-Length: 5\r\n\r\nhello")
            job = self.worker.take_job()
            self.assertEqual(job.action, "url")
            self.assertEqual(len(job.payload), 4)
            self.assertEqual(len(job.payload[1]), 1)
            self.assertEqual(job.respond_to, self.front.answer_addresses[0])
            self.assertIsInstance(job.job_id, int)
            self.assertNotIsInstance(job.job_id, bool)
            req = job.request
            self.assertEqual(req["method"], "POST")
            self.assertEqual(req["url"], "/p/a?x=1&y=2")
            self.assertEqual(req["path"], "/p/a")
            self.assertIn(req["query"], ("x=1&y=2", {"x": "1", "y": "2"}))
            self.assertEqual(req["headers"]["host"], "example.test")
            self.assertEqual(req["headers"]["x-dup"], "a, b")
            self.assertEqual(req["headers"]["x-mixed-case"], "V")
            self.assertNotIn("X-Mixed-Case", req["headers"])
            self.assertEqual(req["body"], "hello")
            self.assertNotIn("body_encoding", req)
            self.assertTrue(req["remote_addr"].startswith("127.0.0.1"), req["remote_addr"])
            self.assertIn("1.1", req["http_version"])
            self.assertEqual(job.answer([201, {"X-A": "1"}, "created"]), b"OK")
            resp = conn.read_response()
        self.assertEqual(resp.status, 201, resp)
        self.assertEqual(resp.header("x-a"), "1")
        self.assertEqual(resp.body, b"created")

    def test_request_without_body_has_no_body_field(self):
        with HttpConnection(self.front.http_port) as conn:
            conn.request("GET", "/nobody")
            job = self.worker.take_job()
            self.assertNotIn("body", job.request)
            job.answer([200, {}, ""])
            self.assertEqual(conn.read_response().status, 200)

    def test_utf8_body_is_a_string_and_other_bytes_are_base64(self):
        text = "h\u00e9llo \u2603".encode()
        binary = b"\xff\xfe\x00abc\x80"
        for body, expect_base64 in ((text, False), (binary, True)):
            with self.subTest(body=body), HttpConnection(self.front.http_port) as conn:
                conn.request("POST", "/enc", body=body)
                req = self.worker.take_job().request
                if expect_base64:
                    self.assertEqual(req.get("body_encoding"), "base64")
                    self.assertEqual(base64.b64decode(req["body"]), body)
                else:
                    self.assertNotIn("body_encoding", req)
                    self.assertEqual(req["body"], body.decode())

    def test_base64_answer_body_and_repeated_headers(self):
        body = bytes(range(256))
        with HttpConnection(self.front.http_port) as conn:
            conn.request("GET", "/b64")
            job = self.worker.take_job()
            job.answer([200, {"X-List": ["a", "b"], "Content-Type": "application/octet-stream"},
                        {"base64": base64.b64encode(body).decode()}])
            resp = conn.read_response()
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual(resp.body, body)
        self.assertEqual(resp.header("x-list"), "a, b")
        self.assertEqual(resp.header("content-type"), "application/octet-stream")

    def test_list_header_values_are_separate_lines_and_text_bodies_are_utf8(self):
        with HttpConnection(self.front.http_port) as conn:
            conn.request("GET", "/cookies")
            self.worker.take_job().answer([200, {"Set-Cookie": ["a=1", "b=2"]},
                                           "h\u00e9llo \u2603"])
            resp = conn.read_response()
        self.assertEqual(resp.header_values("set-cookie"), ["a=1", "b=2"])  # never joined
        self.assertEqual(resp.body, "h\u00e9llo \u2603".encode())

    def test_worker_framing_headers_are_ignored(self):
        with HttpConnection(self.front.http_port) as conn:
            conn.request("GET", "/framing")
            job = self.worker.take_job()
            job.answer([200, {"Content-Length": "999", "Transfer-Encoding": "chunked",
                              "Connection": "close"}, "hi"])
            resp = conn.read_response()
            self.assertEqual(resp.status, 200, resp)
            self.assertEqual(resp.body, b"hi")
            self.assertNotEqual(resp.header("content-length"), "999")
            self.assertNotIn("close", (resp.header("connection") or "").lower())
            # The connection is still usable: the worker's Connection: close was not obeyed.
            conn.request("GET", "/framing2")
            self.worker.take_job().answer([200, {}, "again"])
            self.assertEqual(conn.read_response().body, b"again")

    def test_bodiless_statuses_send_no_body(self):
        with HttpConnection(self.front.http_port) as conn:
            for status in (204, 304):
                with self.subTest(status=status):
                    conn.request("GET", f"/bodiless/{status}")
                    self.worker.take_job().answer([status, {}, "must not be sent"])
                    resp = conn.read_response()
                    self.assertEqual((resp.status, resp.body), (status, b""))
            # A body sent anyway would now be read as the next status line.
            conn.request("GET", "/in-step")
            self.worker.take_job().answer([200, {}, "in step"])
            self.assertEqual(conn.read_response().body, b"in step")

    def test_large_response_body(self):
        body = os.urandom(2 * 1024 * 1024)
        with HttpConnection(self.front.http_port) as conn:
            conn.request("GET", "/large")
            self.worker.take_job().answer([200, {}, {"base64": base64.b64encode(body).decode()}])
            resp = conn.read_response()
        self.assertEqual(resp.status, 200)
        self.assertEqual(resp.body, body)

    def test_header_bytes_that_are_not_utf8_still_make_valid_json(self):
        with HttpConnection(self.front.http_port) as conn:
            conn.send(b"GET /latin1 HTTP/1.1\r\nHost: test\r\nX-A: caf\xe9\r\n\r\n")
            with self.redis.client() as c:
                item = c.blpop([self.QUEUE], timeout=2)
            if item is None:  # rejecting the request is the other acceptable outcome
                self.assertEqual(conn.read_response().status, 400)
                return
            request = json.loads(item[1].decode("utf-8"))[1][0]  # raises on invalid JSON
            self.assertEqual(len(request["headers"]["x-a"]), 4)
            self.assertTrue(request["headers"]["x-a"].startswith("caf"))
            _, _, respond_to, job_id = json.loads(item[1])
            answer(respond_to, job_id, json.dumps([200, {}, "ok"]))
            self.assertEqual(conn.read_response().status, 200)

    def test_client_gone_before_the_answer(self):
        conn = HttpConnection(self.front.http_port)
        conn.request("GET", "/gone")
        job = self.worker.take_job()
        conn.close()
        time.sleep(0.1)
        try:
            job.answer([200, {}, "nobody listens"])
        except redis_py.ResponseError:
            pass  # -ERR (job dropped with its client) and +OK are both fine; a crash is not
        self.assertTrue(self.front.alive())
        with HttpConnection(self.front.http_port) as conn:
            conn.request("GET", "/still-serving")
            self.worker.take_job().answer([200, {}, "yes"])
            self.assertEqual(conn.read_response().body, b"yes")
        wait_until(lambda: self.front.info()["pending_jobs"] == 0, timeout=5,
                   message="pending_jobs back to 0")

    def test_connections_counter_sees_an_open_connection(self):
        before = self.front.info()["connections"]
        with HttpConnection(self.front.http_port) as conn:
            conn.request("GET", "/conn")
            self.worker.take_job().answer([200, {}, ""])
            conn.read_response()
            self.assertGreater(self.front.info()["connections"], before)

    def test_pending_jobs_counter_follows_the_job(self):
        with HttpConnection(self.front.http_port) as conn:
            conn.request("GET", "/pending")
            job = self.worker.take_job()
            self.assertEqual(self.front.info()["pending_jobs"], 1)
            job.answer([200, {}, "done"])
            self.assertEqual(conn.read_response().status, 200)
        self.assertEqual(self.front.info()["pending_jobs"], 0)

    def test_a_worker_in_the_original_format_serves_a_request(self):
        # This is the whole of a Tempest worker in any language with a Redis client: pop a job,
        # answer the front that issued it. It is the 2012 wire format, unchanged.
        def original_worker(redis_url, queue):
            jobs = redis_py.Redis.from_url(redis_url)
            _, payload = jobs.blpop(queue, timeout=5)
            action, args, respond_to, job_id = json.loads(payload)
            request = args[0]
            host, port = respond_to.rsplit(":", 1)
            front = redis_py.Redis(host=host, port=int(port))
            front.execute_command(action, job_id, json.dumps([200, {}, "hi " + request["url"]]))

        thread = threading.Thread(target=original_worker, args=(self.redis.url, self.QUEUE))
        thread.start()
        try:
            resp = http_request(self.front.http_port, "GET", "/original")
        finally:
            thread.join(timeout=10)
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual(resp.body, b"hi /original")


class RequestTargetAndTrailersTest(TempestCase):
    """Route rules and the priority header see the request as the job carries it: targets are
    matched on their normalised path (absolute form, percent-escapes, dot segments, repeated
    slashes: protocol.md 1.3, 4.5), and chunked trailer fields never join the headers."""

    QUEUE = "rules"

    @classmethod
    def setUpClass(cls):
        cls.redis = cls.start_redis_for_class()
        cls.front = cls.start_front_for_class(
            cls.redis, "--timeout", "3s", "--queue", cls.QUEUE, "--priority-header", "X-Priority",
            "--priority-routes", "PUT /pay=high", "--retry-routes", "PUT /pay=no")

    def setUp(self):
        with self.redis.client() as c:
            c.delete(self.QUEUE, f"{self.QUEUE}:high", f"{self.QUEUE}:low")

    def take(self):
        """(list name, Job) of the next job on any of the three priority lists."""
        keys = [f"{self.QUEUE}:high", self.QUEUE, f"{self.QUEUE}:low"]
        with self.redis.client() as c:
            item = c.blpop(keys, timeout=5)
        self.assertIsNotNone(item, "no job within 5 s")
        return item[0].decode(), Job(item[1])

    def test_chunked_trailers_are_not_merged_into_headers(self):
        with HttpConnection(self.front.http_port) as conn:
            conn.send(b"POST /t HTTP/1.1\r\nHost: good\r\nCookie: a=1\r\n"
                      b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n"
                      b"Host: evil\r\nX-Priority: high\r\nCookie: b=2\r\nX-Trailer: t\r\n\r\n")
            queue, job = self.take()
            self.assertEqual(queue, self.QUEUE, "a trailer field set the priority")
            headers = job.request["headers"]
            self.assertEqual(headers["host"], "good")
            self.assertEqual(headers["cookie"], "a=1")
            self.assertNotIn("x-priority", headers)
            self.assertNotIn("x-trailer", headers)
            self.assertEqual(job.request["priority"], "normal")
            self.assertEqual(job.request["body"], "hello")
            job.answer([200, {}, "ok"])
            self.assertEqual(conn.read_response().status, 200)

    def test_the_priority_header_still_works(self):
        with HttpConnection(self.front.http_port) as conn:
            conn.request("GET", "/h", {"X-Priority": "high"})
            queue, job = self.take()
            self.assertEqual((queue, job.request["priority"]), (f"{self.QUEUE}:high", "high"))
            job.answer([200, {}, "ok"])
            self.assertEqual(conn.read_response().status, 200)

    def test_absolute_form_target_follows_the_route_rules(self):
        for target in ("/pay", "http://x/pay", "https://x:8443/pay?a=1", "HTTP://x/pay/sub"):
            with self.subTest(target=target), HttpConnection(self.front.http_port) as conn:
                conn.request("PUT", target, body=b"")
                queue, job = self.take()
                self.assertEqual(job.request["url"], target)  # as received
                self.assertTrue(job.request["path"].startswith("/pay"), job.request["path"])
                self.assertEqual(queue, f"{self.QUEUE}:high")
                self.assertEqual(job.request["priority"], "high")
                self.assertIs(job.request["retry"], False)
                job.answer([200, {}, "ok"])
                self.assertEqual(conn.read_response().status, 200)

    def test_absolute_form_event_stream_target_opens_a_stream(self):
        with HttpConnection(self.front.http_port) as conn:
            conn.request("GET", "http://x/sub/abs")
            resp = conn.read_response(head=True)  # the stream has no end: read the head only
            self.assertEqual(resp.status, 200, resp)
            self.assertEqual(resp.header("content-type"), "text/event-stream")
        with self.redis.client() as c:
            self.assertEqual(c.llen(self.QUEUE), 0, "an event-stream request became a job")

    def put(self, target):
        """PUT target on a fresh connection: (list name, Job) once the job is queued; answers it."""
        with HttpConnection(self.front.http_port) as conn:
            conn.request("PUT", target, body=b"")
            queue, job = self.take()
            job.answer([200, {}, "ok"])
            self.assertEqual(conn.read_response().status, 200)
        return queue, job

    def test_other_spellings_of_a_path_follow_the_route_rules(self):
        for target in ("/./pay", "//pay", "/a/../pay", "/%70ay", "/%2e/pay", "/x/%2E%2e/p%61y/", "///pay?a=1",
                       "http://x//a/./../%70ay?k=v"):
            with self.subTest(target=target):
                queue, job = self.put(target)
                self.assertEqual(job.request["url"], target)  # as received
                self.assertTrue(job.request["path"] in ("/pay", "/pay/"), job.request["path"])
                self.assertEqual(queue, f"{self.QUEUE}:high")
                self.assertEqual(job.request["priority"], "high")
                self.assertIs(job.request["retry"], False)
        # The rules still leave other paths alone, however they are spelled.
        queue, job = self.put("/pay/../other")
        self.assertEqual((queue, job.request["path"], job.request["retry"]), (self.QUEUE, "/other", True))

    def test_paths_that_frameworks_read_differently_are_400(self):
        bad_before = self.front.info()["bad_requests"]
        jobs_before = self.front.info()["jobs_pushed"]
        targets = ("/../pay", "/a/../../pay", "/%2e%2e/pay", "http://x/../pay", "/pay%00", "/pay%2Fadmin",
                   "/%zz", "/pay#x", "/x\\..\\pay")
        for target in targets:
            with self.subTest(target=target), HttpConnection(self.front.http_port) as conn:
                conn.send(f"PUT {target} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n".encode())
                resp = conn.read_response()
                self.assertEqual(resp.status, 400, resp)
                self.assertEqual(resp.body, b"bad request\n")
        self.assertEqual(self.front.info()["bad_requests"] - bad_before, len(targets))
        self.assertEqual(self.front.info()["jobs_pushed"], jobs_before)
        with self.redis.client() as c:
            self.assertEqual([c.llen(k) for k in (self.QUEUE, f"{self.QUEUE}:high", f"{self.QUEUE}:low")], [0, 0, 0])

    def test_a_400_target_is_refused_before_its_body_is_read(self):
        with HttpConnection(self.front.http_port) as conn:
            # The body is announced and never sent: the answer comes from the head alone.
            conn.send(b"POST /../x HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")
            self.assertEqual(conn.read_response().status, 400)

    def test_normalised_event_stream_targets_open_a_stream(self):
        for target in ("/./sub/norm", "//sub/norm", "/x/../sub/%6Eorm"):
            with self.subTest(target=target), HttpConnection(self.front.http_port) as conn:
                conn.request("GET", target)
                resp = conn.read_response(head=True)
                self.assertEqual(resp.status, 200, resp)
                self.assertEqual(resp.header("content-type"), "text/event-stream")
        # A target that only looks like the prefix is a job for its normalised path.
        with HttpConnection(self.front.http_port) as conn:
            conn.request("GET", "/sub/../norm")
            queue, job = self.take()
            self.assertEqual((queue, job.request["path"]), (self.QUEUE, "/norm"))
            job.answer([200, {}, "ok"])
            self.assertEqual(conn.read_response().status, 200)
