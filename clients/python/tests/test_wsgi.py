"""The WSGI gateway (python3 -m tempest.wsgi module:app) serving a real Flask application behind
the real front: routes, the PEP 3333 environ, JSON, form POST, binary upload, cookies (repeated
Set-Cookie), 404, an exception -> 500, unicode and binary bodies, a streamed body (collected)."""

import json
import os

from fixtures import PYTHON, ClientCase, header, http, wait_workers

from tempest.wsgi import WsgiHandler, build_environ, wire_text

TESTS = os.path.dirname(os.path.abspath(__file__))
CLIENT = os.path.dirname(TESTS)


class WsgiGatewayTest(ClientCase):
    def setUp(self):
        super().setUp()
        self.f = self.front("--queue", "web")
        self.gw = self.spawn("tempest.wsgi", [PYTHON, "-m", "tempest.wsgi", "flask_app:app", "--queue", "web",
                                              "--redis", self.redis.url], {"PYTHONPATH": CLIENT}, cwd=TESTS)
        wait_workers(self.redis, 1, timeout=10)

    def test_flask_app(self):
        f = self.f
        self.assertEqual(http(f, "GET", "/")[::2], (200, b"hello from flask"))

        s, _, b = http(f, "GET", "/env?a=1&b=%20", headers={"X-Custom": "yes", "Host": "example.org:8081"})
        env = json.loads(b)
        self.assertEqual(env["REQUEST_METHOD"], "GET")
        self.assertEqual(env["PATH_INFO"], "/env")
        self.assertEqual(env["QUERY_STRING"], "a=1&b=%20")
        self.assertEqual((env["SERVER_NAME"], env["SERVER_PORT"]), ("example.org", "8081"))
        self.assertEqual(env["SERVER_PROTOCOL"], "HTTP/1.1")
        self.assertEqual(env["REMOTE_ADDR"], "127.0.0.1")
        self.assertEqual(env["wsgi.url_scheme"], "http")
        self.assertEqual(env["HTTP_X_CUSTOM"], "yes")
        self.assertEqual(env["SCRIPT_NAME"], "")

        s, _, b = http(f, "GET", "/path/%C3%A9t%C3%A9")
        self.assertEqual(json.loads(b), {"name": "été", "path": "/path/été", "raw": "/path/Ã©tÃ©"})

        s, h, b = http(f, "POST", "/json?q=x", body=b'{"a": [1, "\\u00e9"]}',
                       headers={"Content-Type": "application/json"})
        self.assertEqual((s, json.loads(b)), (201, {"got": {"a": [1, "é"]}, "q": "x"}))
        self.assertEqual(header(h, "content-type"), ["application/json"])

        s, _, b = http(f, "POST", "/form", body=b"name=b%C3%B6b&tag=a&tag=b",
                       headers={"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual((s, b.decode()), (200, "name=böb tags=a,b"))

        s, _, b = http(f, "PUT", "/upload", body=b"\x00\xff\xfe\x01")
        self.assertEqual((s, b), (200, b"\x01\xfe\xff\x00"))

        s, h, b = http(f, "GET", "/cookies", headers={"Cookie": "a=1; b=2"})
        self.assertEqual(b, b"a=1 b=2")
        self.assertEqual(header(h, "set-cookie"), ["one=1; Path=/", "two=2; HttpOnly; Path=/"])

        self.assertEqual(http(f, "GET", "/nope")[0], 404)
        self.assertEqual(http(f, "POST", "/")[0], 405)
        self.assertEqual(http(f, "GET", "/boom")[0], 500)
        self.assertEqual(http(f, "GET", "/unicode")[2], "héllo ☃ 😀".encode())
        s, h, b = http(f, "GET", "/binary")
        self.assertEqual((s, b), (200, bytes(range(256))))
        self.assertEqual(http(f, "GET", "/stream")[2], b"part0;part1;part2;")
        s, h, _ = http(f, "GET", "/redirect")
        self.assertEqual((s, header(h, "location")), (302, ["/"]))
        self.assertEqual(http(f, "HEAD", "/")[::2], (200, b""))
        self.assertEqual(self.gw.stop(), 0)


class WsgiUnitTest(ClientCase):
    """The environ and start_response rules that the Flask run does not reach."""

    def request(self, **o):
        from tempest.codec import Job, Request
        base = {"method": "GET", "url": "/", "path": "/", "query": "", "headers": {}, "remote_addr": "[::1]:5"}
        base.update(o)
        return Request(Job("url", [base], None, 1))

    def test_environ_details(self):
        env = build_environ(self.request(path="/app/x", headers={"host": "[::1]:99", "content-type": "text/a"},
                                         body="hi"), script_name="/app")
        self.assertEqual((env["SCRIPT_NAME"], env["PATH_INFO"]), ("/app", "/x"))
        self.assertEqual((env["SERVER_NAME"], env["SERVER_PORT"]), ("::1", "99"))
        self.assertEqual((env["CONTENT_TYPE"], env["CONTENT_LENGTH"]), ("text/a", "2"))
        self.assertEqual(env["wsgi.input"].read(), b"hi")
        self.assertEqual(env["REMOTE_ADDR"], "::1")
        self.assertNotIn("HTTP_CONTENT_TYPE", env)
        self.assertEqual(wire_text("é"), "Ã©")

    def test_start_response_exc_info_and_close(self):
        closed = []

        class Body(list):
            def close(self):
                closed.append(True)

        def app(environ, start_response):
            start_response("200 OK", [("X-A", "1")])
            try:
                raise ValueError("late")
            except ValueError:
                import sys
                start_response("500 Oops", [("X-B", "2")], sys.exc_info())  # not sent yet: replaces
            return Body([b"a", b"b"])
        status, headers, body = WsgiHandler(app)(self.request())
        self.assertEqual((status, headers, body, closed), (500, {"X-B": ["2"]}, b"ab", [True]))

        def twice(environ, start_response):
            start_response("200 OK", [])
            start_response("201 Created", [])
            return []
        with self.assertRaises(AssertionError):
            WsgiHandler(twice)(self.request())

        def writer(environ, start_response):
            w = start_response("200 OK", [])
            w(b"written;")
            return [b"iterated"]
        self.assertEqual(WsgiHandler(writer)(self.request())[2], b"written;iterated")
