"""The Worker against the real front: hello round trip (examples/hello.py), what a handler sees,
what it may answer (status, headers, binary/unicode/empty bodies), the answer object, errors,
plain mode and concurrency."""

import os
import threading
import time

from fixtures import (CLIENT_DIR, PYTHON, ClientCase, FakeEndpoint, header, http, job, wait_until,
                      wait_workers)

from tempest import Worker


class HelloTest(ClientCase):
    def test_hello_example_reliable_and_plain(self):
        front = self.front()
        for mode in ("reliable", "plain"):
            p = self.spawn("hello.py", [PYTHON, os.path.join(CLIENT_DIR, "examples", "hello.py"), "--redis",
                                        self.redis.url, "--mode", mode, "--concurrency", "2"])
            if mode == "reliable":
                wait_workers(self.redis, 2)
            status, headers, body = http(front, "GET", "/")
            self.assertEqual((status, body), (200, b"Hello world!"))
            self.assertEqual(header(headers, "content-type"), ["text/plain"])
            self.assertEqual(header(headers, "x-worker"), ["python"])
            self.assertEqual(p.stop(), 0)
            self.assertEqual(self.redis.client().scard("tempest:workers"), 0, "goodbye unregisters the lanes")

    def test_hello_takes_redis_from_the_environment_and_queue_flag(self):
        front = self.front("--queue", "hq")
        p = self.spawn("hello.py", [PYTHON, os.path.join(CLIENT_DIR, "examples", "hello.py"), "--queue", "hq"],
                       {"TEMPEST_REDIS": self.redis.url})
        self.assertEqual(http(front, "GET", "/a")[2], b"Hello world!")
        self.assertEqual(p.stop(), 0)


class HandlerTest(ClientCase):
    def setUp(self):
        super().setUp()
        self.front_ = self.front("--priority-header", "x-prio", "--timeout", "5s")
        self.worker = Worker(redis=self.redis.url)
        self.seen = []

    def start(self):
        self.thread_worker(self.worker)
        wait_workers(self.redis, 1)

    def test_request_fields(self):
        @self.worker.on("url")
        def handler(req):
            self.seen.append(req)
            return 200, {}, "ok"
        self.start()
        status, _, _ = http(self.front_, "POST", "/a/../%70ath//x?q=%C3%A9&r=1", body=b"\xff\x00bin",
                            headers={"X-Test": "yes", "X-Prio": "high", "Cookie": "a=1"})
        self.assertEqual(status, 200)
        req = self.seen[0]
        self.assertEqual(req.method, "POST")
        self.assertEqual(req.url, "/a/../%70ath//x?q=%C3%A9&r=1")
        self.assertEqual(req.path, "/path/x")
        self.assertEqual(req.query, "q=%C3%A9&r=1")
        self.assertEqual(req.query_param("q"), "é")
        self.assertEqual(req.header("X-TEST"), "yes")
        self.assertEqual(req.body, b"\xff\x00bin")
        self.assertEqual(req.priority, "high")
        self.assertFalse(req.retry, "POST is not retry-safe by default")
        self.assertGreater(req.deadline, time.time() * 1000)
        self.assertTrue(req.remote_addr.startswith("127.0.0.1:"))
        self.assertEqual(req.http_version, "1.1")
        self.assertFalse(req.cancelled())

    def test_status_headers_and_bodies(self):
        @self.worker.on("url")
        def handler(req):
            p = req.path
            if p == "/binary":
                return 201, {"Content-Type": "application/octet-stream"}, b"\x00\xff\xfe\x80"
            if p == "/unicode":
                return 200, {"Content-Type": "text/plain; charset=utf-8"}, "héllo ☃ 😀"
            if p == "/utf8bytes":
                return 200, {}, "snow ☃".encode()
            if p == "/empty":
                return 204, {"X-A": "1"}
            if p == "/none":
                return 200, {}, None
            if p == "/cookies":
                return 200, [("Set-Cookie", "a=1"), ("Set-Cookie", "b=2"), ("X-N", 12)], "c"
            if p == "/multi":
                return 200, {"Set-Cookie": ["a=1", "b=2"]}, "m"
            if p == "/bad-headers":
                return 200, {"Bad Name": "x", "X-Bad": "a\r\nb", "X-Good": "g", "Content-Length": "99"}, "b"
            if p == "/status-string":
                return "404", {}, "nf"
            if p == "/odd":
                return 299, {}, ""
            if p == "/body-only":
                return "just a body"
            return 999, {}, "out of range"
        self.start()
        f = self.front_
        s, h, b = http(f, "GET", "/binary")
        self.assertEqual((s, b), (201, b"\x00\xff\xfe\x80"))
        self.assertEqual(http(f, "GET", "/unicode")[2], "héllo ☃ 😀".encode())
        self.assertEqual(http(f, "GET", "/utf8bytes")[2], "snow ☃".encode())
        s, h, b = http(f, "GET", "/empty")
        self.assertEqual((s, b, header(h, "x-a")), (204, b"", ["1"]))
        self.assertEqual(http(f, "GET", "/none")[:3:2], (200, b""))
        s, h, b = http(f, "GET", "/cookies")
        self.assertEqual(header(h, "set-cookie"), ["a=1", "b=2"])
        self.assertEqual(header(h, "x-n"), ["12"])
        self.assertEqual(header(http(f, "GET", "/multi")[1], "set-cookie"), ["a=1", "b=2"])
        s, h, b = http(f, "GET", "/bad-headers")
        self.assertEqual((s, b), (200, b"b"))
        self.assertEqual(header(h, "x-good"), ["g"])
        self.assertEqual(header(h, "x-bad"), [])
        self.assertEqual(header(h, "content-length"), ["1"], "the front frames the response itself")
        self.assertEqual(http(f, "GET", "/status-string")[0], 404)
        self.assertEqual(http(f, "GET", "/odd")[0], 299)
        self.assertEqual(http(f, "GET", "/body-only")[:3:2], (200, b"just a body"))
        self.assertEqual(http(f, "GET", "/range")[0], 500, "a status outside 200..599 is sent as 500")

    def test_answer_object_exception_and_no_handler(self):
        @self.worker.on("url")
        def handler(req, answer):
            if req.path == "/boom":
                raise RuntimeError("boom")
            if req.path == "/late-boom":
                answer.send(202, {}, "sent first")
                raise RuntimeError("after the answer")
            answer.send(200, {"X-Via": "answer"}, req.body[::-1])
        self.start()
        s, h, b = http(self.front_, "POST", "/x", body=b"abc")
        self.assertEqual((s, b, header(h, "x-via")), (200, b"cba", ["answer"]))
        s, _, b = http(self.front_, "GET", "/boom")
        self.assertEqual((s, b), (500, b"Internal Server Error\n"))
        self.assertEqual(http(self.front_, "GET", "/late-boom")[:3:2], (202, b"sent first"))

    def test_no_url_handler_is_501(self):
        self.start()
        self.assertEqual(http(self.front_, "GET", "/")[0], 501)

    def test_many_requests_pipelined_answers(self):
        self.worker.on("url", lambda req: (200, {}, req.path))
        self.start()
        results = {}

        def one(i):
            results[i] = http(self.front_, "GET", f"/n{i}")
        threads = [threading.Thread(target=one, args=(i,)) for i in range(60)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(15)
        self.assertEqual({i: (r[0], r[2]) for i, r in results.items()},
                         {i: (200, f"/n{i}".encode()) for i in range(60)})


class ModesTest(ClientCase):
    def test_plain_mode_takes_with_blmpop_and_registers_nothing(self):
        front = self.front()
        w = Worker(redis=self.redis.url, mode="plain")
        w.on("url", lambda req: (200, {}, "plain"))
        self.thread_worker(w)
        self.assertEqual(http(front, "GET", "/")[2], b"plain")
        self.assertEqual(self.redis.client().scard("tempest:workers"), 0)

    def test_concurrency_runs_handlers_in_parallel(self):
        front = self.front()
        for mode in ("reliable", "plain"):
            w = Worker(redis=self.redis.url, concurrency=4, mode=mode, batch=1)
            running, peak, lock = [0], [0], threading.Lock()

            def slow(req):
                with lock:
                    running[0] += 1
                    peak[0] = max(peak[0], running[0])
                time.sleep(0.5)
                with lock:
                    running[0] -= 1
                return 200, {}, threading.current_thread().name
            w.on("url", slow)
            t = self.thread_worker(w)
            if mode == "reliable":
                wait_workers(self.redis, 4)
            out = []
            threads = [threading.Thread(target=lambda: out.append(http(front, "GET", "/"))) for _ in range(4)]
            started = time.monotonic()
            for th in threads:
                th.start()
            for th in threads:
                th.join(10)
            self.assertEqual([r[0] for r in out], [200] * 4)
            self.assertLess(time.monotonic() - started, 1.8, f"{mode}: 4 x 0.5 s handlers ran in parallel")
            self.assertGreaterEqual(peak[0], 2)
            w.stop()
            t.join(10)


class OtherActionsTest(ClientCase):
    """Jobs the test pushes itself, answered on a fake endpoint listed in answer_allow."""

    def test_other_action_and_answer_allow(self):
        self.redis = self.redis_server()
        ep = FakeEndpoint()
        self.addCleanup(ep.close)
        w = Worker(redis=self.redis.url, mode="plain", answer_allow=[ep.address])

        @w.on("resize")
        def resize(job):
            return {"size": job.args[0] * 2}

        @w.on("fail")
        def fail(job):
            raise ValueError("no")
        self.thread_worker(w)
        c = self.redis.client()
        c.rpush("tempest", job("resize", [21], ep.address, 5), job("fail", [], ep.address, 6),
                job("resize", [1], "127.0.0.1:1", 7), job("resize", [2], None, 8))
        cmds = ep.wait_commands(2)
        self.assertEqual(cmds[0], [b"resize", b"5", b'{"size":42}'])
        self.assertEqual(cmds[1], [b"fail", b"6", b'{"error":"internal error"}'])
        wait_until(lambda: w.untrusted_jobs == 1, message="the job for an unannounced endpoint dropped")
        wait_until(lambda: w.handled_jobs == 3, message="the job without respond_to handled")


class RedisOutageTest(ClientCase):
    def test_worker_serves_again_after_redis_restarts(self):
        front = self.front()
        for mode in ("reliable", "plain"):
            w = Worker(redis=self.redis.url, mode=mode, heartbeat_ttl=0.6)
            w.on("url", lambda req: (200, {}, "back"))
            t = self.thread_worker(w)
            self.assertEqual(http(front, "GET", "/")[2], b"back")
            self.redis.restart()
            self._keep(self.redis.process)
            # the front and the worker reconnect by themselves (backoff up to 0.5 s)
            wait_until(lambda: http(front, "GET", "/", timeout=3)[0] == 200, 10, message="served again")
            if mode == "reliable":
                wait_workers(self.redis, 1)  # the heartbeat registered the lane again
            w.stop()
            t.join(10)


class RedisUrlTest(ClientCase):
    def test_parse(self):
        from tempest.redis_url import parse_redis_url
        self.assertEqual(parse_redis_url("redis://127.0.0.1:6390/3"), {"host": "127.0.0.1", "port": 6390, "db": 3})
        self.assertEqual(parse_redis_url("redis://:p%40ss@h"), {"host": "h", "port": 6379, "db": 0, "password": "p@ss"})
        self.assertEqual(parse_redis_url("redis://u:p@h:1/0")["username"], "u")
        self.assertEqual(parse_redis_url("unix:/tmp/r.sock?db=2"), {"unix_socket_path": "/tmp/r.sock", "db": 2})
        for bad in ("http://x", "redis://h/x", "unix:", "redis://h:99999"):
            with self.assertRaises(ValueError, msg=bad):
                parse_redis_url(bad)

    def test_worker_on_a_unix_socket(self):
        front = self.front()
        for mode in ("reliable", "plain"):
            w = Worker(redis=f"unix:{self.redis.unix_path}?db=0", mode=mode)
            w.on("url", lambda req: (200, {}, "unix"))
            t = self.thread_worker(w)
            self.assertEqual(http(front, "GET", "/")[2], b"unix")
            self.assertEqual(w.publish("u", "x")[:1].isdigit(), True)
            w.stop()
            t.join(10)

    def test_module_worker_command_line(self):
        front = self.front()
        p = self.spawn("tempest.worker", [PYTHON, "-m", "tempest.worker", "--redis", self.redis.url, "--text", "module"],
                       {"PYTHONPATH": CLIENT_DIR})
        self.assertEqual(http(front, "GET", "/")[2], b"module")
        self.assertEqual(p.stop(), 0)


class AnswerPasswordTest(ClientCase):
    def test_auth_on_the_answer_endpoint(self):
        front = self.front("--answer-password", "s3cret", "--timeout", "1s")
        w = Worker(redis=self.redis.url, answer_password="wrong")
        w.on("url", lambda req: (200, {}, "authed"))
        t = self.thread_worker(w)
        self.assertEqual(http(front, "GET", "/")[0], 504, "a wrong password: the answer is refused")
        w.stop()
        t.join(10)
        os.environ["TEMPEST_ANSWER_PASSWORD"] = "s3cret"
        self.addCleanup(os.environ.pop, "TEMPEST_ANSWER_PASSWORD", None)
        w = Worker(redis=self.redis.url)  # the password from the environment
        w.on("url", lambda req: (200, {}, "authed"))
        self.thread_worker(w)
        self.assertEqual(http(front, "GET", "/")[::2], (200, b"authed"))
