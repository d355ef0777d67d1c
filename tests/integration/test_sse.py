"""Server-Sent Events: GET /sub/<channels> streams what is PUBLISHed on Redis (docs/protocol.md,
section 7).

Real redis-server, real front, raw sockets: the exact bytes of the stream (headers, the first
`retry:` and id-only blocks, each message shape), the checks (400/403/405, CORS), resume from
the channel history that `tempest publish` records (Last-Event-ID header or ?lastEventId=, no
duplicates, in order, trimmed history), keep-alive comments, a slow subscriber being cut off,
one Redis subscription per channel whatever the number of subscribers, resync after Redis comes
back, and the INFO counters. `tempest publish` itself is tested in test_publish.py; the
JavaScript clients (Chromium, the npm eventsource package) in tests/browser/.

Before publishing, a test waits until the front holds the SUBSCRIBE on Redis (PUBSUB NUMSUB),
since a bare PUBLISH reaches only current subscribers.
"""

import json
import re
import signal
import socket
import threading
import time
import urllib.parse

from support.harness import (LOOPBACK, READ_TIMEOUT, ConnectionClosed, FakeWorker, HttpConnection,
                             TempestCase, build_request, http_request, run_tempest, wait_until)

STREAM_ID = re.compile(r"^\d+-\d+$")


# ---------------------------------------------------------------------------------------------
# An SSE client over a raw socket


def assert_gap_reported(case, stream, channel):
    """After a replay that could not cover the client's gap (history trimmed, expired, or over
    the replay limit), the front says so with one tempest.resync event, then nothing more."""
    event = stream.next_event()
    case.assertEqual(event.event, "tempest.resync", event)
    case.assertEqual(json.loads(event.data), {"channel": channel, "lost": True})
    case.assertEqual(stream.events_within(0.3), [])


class Block:
    """One SSE block (the lines before a blank line), parsed as the WHATWG parser would:
    data lines joined with \\n, `field: value` with one optional space after the colon."""

    def __init__(self, raw):
        self.raw = raw  # the exact bytes, blank line included
        self.lines = raw.decode("utf-8").split("\n")[:-2]
        self.comments = [line[1:] for line in self.lines if line.startswith(":")]
        self.fields = []
        for line in self.lines:
            if line.startswith(":"):
                continue
            name, colon, value = line.partition(":")
            if colon and value.startswith(" "):
                value = value[1:]
            self.fields.append((name, value))
        self.data_lines = [v for n, v in self.fields if n == "data"]
        self.data = "\n".join(self.data_lines) if self.data_lines else None
        self.event = next((v for n, v in reversed(self.fields) if n == "event"), None)
        self.id = next((v for n, v in reversed(self.fields) if n == "id"), None)
        self.retry = next((v for n, v in reversed(self.fields) if n == "retry"), None)

    @property
    def is_event(self):
        """A block that fires an event in a browser (it has data)."""
        return self.data is not None

    @property
    def channel(self):
        """The channel the event came from: the first entry of the cursor."""
        return self.id.split(",")[0].split("=")[0]

    @property
    def cursor(self):
        return parse_cursor(self.id)

    def __repr__(self):
        return f"<Block {self.raw!r}>"


def parse_cursor(cursor):
    """'a=1-0,b=0' -> [('a', '1-0'), ('b', '0')] (in order)."""
    return [tuple(entry.rsplit("=", 1)) for entry in cursor.split(",")]


class SseStream:
    """GET target on a fresh connection; reads the response head, then SSE blocks.

    rcvbuf: a small SO_RCVBUF, for a client that reads nothing (a slow subscriber)."""

    def __init__(self, port, target, headers=None, timeout=READ_TIMEOUT, rcvbuf=None,
                 read_head=True):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect((LOOPBACK, port))
        self.timeout = timeout
        self.buffer = b""
        self.raw = b""  # the body bytes read so far
        self.eof = False
        try:
            self.sock.sendall(build_request("GET", target, headers))
            if read_head:
                self.read_head()
        except BaseException:
            self.sock.close()
            raise

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self.sock.close()

    def _fill(self, deadline):
        if self.eof:
            raise ConnectionClosed("stream closed by the server")
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise socket.timeout("deadline passed")
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(65536)
        except ConnectionResetError:
            chunk = b""
        finally:
            self.sock.settimeout(self.timeout)
        if not chunk:
            self.eof = True
            raise ConnectionClosed("stream closed by the server")
        self.buffer += chunk

    def read_head(self):
        deadline = time.monotonic() + self.timeout
        while b"\r\n\r\n" not in self.buffer:
            self._fill(deadline)
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        self.status_line = lines[0]
        self.status = int(lines[0].split(" ")[1])
        self.headers = [(n.strip().lower(), v.strip())
                        for n, _, v in (line.partition(":") for line in lines[1:])]
        self.raw = self.buffer
        return self

    def header(self, name):
        values = [v for n, v in self.headers if n == name.lower()]
        return ", ".join(values) if values else None

    def read_bytes(self, n, timeout=READ_TIMEOUT):
        """The first n bytes of the body not yet consumed (consumes them)."""
        deadline = time.monotonic() + timeout
        while len(self.buffer) < n:
            self._fill_raw(deadline)
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def _fill_raw(self, deadline):
        before = len(self.buffer)
        self._fill(deadline)
        self.raw += self.buffer[before:]

    def next_block(self, timeout=READ_TIMEOUT):
        deadline = time.monotonic() + timeout
        while b"\n\n" not in self.buffer:
            self._fill_raw(deadline)
        raw, _, self.buffer = self.buffer.partition(b"\n\n")
        return Block(raw + b"\n\n")

    def next_event(self, timeout=READ_TIMEOUT):
        """The next block with data (skips comments and id-only blocks)."""
        deadline = time.monotonic() + timeout
        while True:
            block = self.next_block(max(0.0, deadline - time.monotonic()))
            if block.is_event:
                return block

    def events(self, n, timeout=READ_TIMEOUT):
        deadline = time.monotonic() + timeout
        return [self.next_event(max(0.0, deadline - time.monotonic())) for _ in range(n)]

    def events_within(self, seconds):
        """Every event that arrives within `seconds` (the stream must stay open)."""
        deadline = time.monotonic() + seconds
        found = []
        while True:
            try:
                found.append(self.next_event(max(0.0, deadline - time.monotonic())))
            except socket.timeout:
                return found

    def wait_closed(self, timeout=3.0):
        """Reads until the server closes; returns the blocks that came first."""
        deadline = time.monotonic() + timeout
        blocks = []
        try:
            while True:
                blocks.append(self.next_block(max(0.0, deadline - time.monotonic())))
        except ConnectionClosed:
            return blocks
        except socket.timeout:
            raise AssertionError(f"stream still open after {timeout}s (got {blocks!r})")

    def is_open(self, wait=0.2):
        self.sock.settimeout(wait)
        try:
            return bool(self.sock.recv(1, socket.MSG_PEEK))
        except socket.timeout:
            return True
        except OSError:
            return False
        finally:
            self.sock.settimeout(self.timeout)


# ---------------------------------------------------------------------------------------------
# Shared steps


def publish(redis, channel, data, *flags):
    """`tempest publish --redis URL [flags] CHANNEL DATA`; returns the recorded id it prints."""
    result = run_tempest("publish", "--redis", redis.url, *flags, channel, data)
    if result.returncode != 0:
        raise AssertionError(f"tempest publish failed ({result.returncode}): {result.stderr}")
    entry_id = result.stdout.strip()
    if not STREAM_ID.match(entry_id):
        raise AssertionError(f"tempest publish printed {result.stdout!r}, not a stream id")
    return entry_id


def numsub(redis, channel):
    with redis.client() as c:
        return dict(c.pubsub_numsub(channel))[channel.encode()]


def wait_subscribed(redis, *channels, count=1):
    for channel in channels:
        wait_until(lambda: numsub(redis, channel) >= count, 5.0,
                   message=f"the front to SUBSCRIBE {channel}")


class SseCase(TempestCase):
    """Helpers over one front (cls.front) and Redis (cls.redis)."""

    def subscribe(self, channels, headers=None, query="", front=None, **kwargs):
        """Opens /sub/<channels>, checks the 200, reads the first (retry + id-only) block and
        waits until the front has subscribed on Redis; the stream is closed at cleanup."""
        front = front or self.front
        stream = SseStream(front.http_port, f"/sub/{channels}{query}", headers, **kwargs)
        self.addCleanup(stream.close)
        self.assertEqual(stream.status, 200, f"{stream.status_line} {stream.buffer[:200]!r}")
        stream.first = stream.next_block()
        self.assertIsNotNone(stream.first.retry, stream.first)
        wait_subscribed(self.redis, *channels.split(","))
        return stream

    def bare_publish(self, channel, payload):
        with self.redis.client() as c:
            return c.publish(channel, payload)

    def wait_info(self, name, predicate, front=None, timeout=5.0):
        front = front or self.front
        return wait_until(lambda: predicate(front.info()[name]), timeout,
                          message=f"INFO {name} (now {front.info().get(name)!r})")


# ---------------------------------------------------------------------------------------------
# The stream: headers, first bytes, one block per message shape


class StreamFormatTest(SseCase):

    @classmethod
    def setUpClass(cls):
        cls.redis = cls.start_redis_for_class()
        cls.front = cls.start_front_for_class(cls.redis)

    def test_response_head(self):
        with SseStream(self.front.http_port, "/sub/head") as stream:
            self.assertEqual(stream.status_line, "HTTP/1.1 200 OK")
            self.assertTrue(stream.header("content-type").startswith("text/event-stream"),
                            stream.headers)
            self.assertEqual(stream.header("cache-control"), "no-cache")
            self.assertEqual(stream.header("x-accel-buffering"), "no")
            self.assertIsNone(stream.header("content-length"), stream.headers)
            self.assertIsNone(stream.header("transfer-encoding"), stream.headers)
            self.assertIsNone(stream.header("access-control-allow-origin"), stream.headers)

    def test_head_gets_the_head_only(self):
        with HttpConnection(self.front.http_port) as conn:
            conn.request("HEAD", "/sub/head-only")
            resp = conn.read_response(head=True)
            self.assertEqual(resp.status, 200, resp)
            self.assertTrue(resp.header("content-type").startswith("text/event-stream"), resp)
            self.assertEqual(conn.wait_closed(), b"")

    def test_first_bytes_are_retry_then_an_id_only_block(self):
        with SseStream(self.front.http_port, "/sub/first") as stream:
            expected = b"retry: 2000\nid: first=0\n\n"
            self.assertEqual(stream.read_bytes(len(expected)), expected)
            self.assertEqual(stream.events_within(0.3), [])

    def test_first_cursor_lists_every_channel_in_order(self):
        with SseStream(self.front.http_port, "/sub/zeta,alpha,mid") as stream:
            expected = b"retry: 2000\nid: zeta=0,alpha=0,mid=0\n\n"
            self.assertEqual(stream.read_bytes(len(expected)), expected)

    def test_one_item_is_data(self):
        stream = self.subscribe("one")
        self.bare_publish("one", '["hello world"]')
        event = stream.next_event()
        self.assertEqual(sorted(event.lines), ["data: hello world", "id: one=0"], event)

    def test_two_items_are_event_and_data(self):
        stream = self.subscribe("two")
        self.bare_publish("two", '["price", "42"]')
        event = stream.next_event()
        self.assertEqual(sorted(event.lines), ["data: 42", "event: price", "id: two=0"], event)

    def test_line_breaks_are_removed_from_event_names(self):
        stream = self.subscribe("names")
        self.bare_publish("names", '["na\\r\\nme", "x"]')
        event = stream.next_event()
        self.assertEqual(sorted(event.lines), ["data: x", "event: name", "id: names=0"], event)

    def test_unsubscribe_sends_end_and_closes(self):
        stream = self.subscribe("bye")
        other = self.subscribe("stay")
        self.bare_publish("bye", '["$unsubscribe"]')
        event = stream.next_event()
        self.assertEqual(sorted(event.fields), [("data", ""), ("event", "end"), ("id", "bye=0")],
                         event)
        self.assertEqual(stream.wait_closed(), [])
        # Subscribers of other channels are not touched.
        self.assertTrue(other.is_open())
        self.bare_publish("stay", '["still here"]')
        self.assertEqual(other.next_event().data, "still here")

    def test_recorded_message_moves_the_cursor(self):
        stream = self.subscribe("rec")
        entry_id = publish(self.redis, "rec", "recorded")
        event = stream.next_event()
        self.assertEqual(sorted(event.lines), ["data: recorded", f"id: rec={entry_id}"], event)
        named_id = publish(self.redis, "rec", "named", "--event", "news")
        event = stream.next_event()
        self.assertEqual(sorted(event.lines),
                         ["data: named", "event: news", f"id: rec={named_id}"], event)
        # A bare PUBLISH of the same shape counts too; later live messages keep the cursor.
        self.bare_publish("rec", '[null, "by hand", "99999999999999-7"]')
        self.bare_publish("rec", '["live"]')
        by_hand, live = stream.events(2)
        self.assertEqual((by_hand.event, by_hand.data, by_hand.id),
                         (None, "by hand", "rec=99999999999999-7"))
        self.assertEqual((live.data, live.id), ("live", "rec=99999999999999-7"))

    def test_newlines_in_data_split_into_data_lines(self):
        stream = self.subscribe("lines")
        cases = [
            ("a\nb", ["a", "b"]),
            ("a\r\nb", ["a", "b"]),
            ("a\rb", ["a", "b"]),
            ("one\n\ntwo\r\n\r\nthree", ["one", "", "two", "", "three"]),
            ("ends with a newline\n", ["ends with a newline", ""]),
        ]
        for data, _ in cases:
            self.bare_publish("lines", json.dumps([data]))
        for (data, lines), event in zip(cases, stream.events(len(cases))):
            with self.subTest(data=data):
                self.assertEqual(event.data_lines, lines, event)
                self.assertNotIn("\r", event.raw.decode())

    def test_non_string_data_is_sent_as_json(self):
        stream = self.subscribe("typed")
        cases = [("[42]", None, 42), ('[{"k": [1, 2]}]', None, {"k": [1, 2]}),
                 ('["obj", {"a": "b"}]', "obj", {"a": "b"}), ("[true]", None, True),
                 ("[1.5]", None, 1.5)]
        for payload, _, _ in cases:
            self.bare_publish("typed", payload)
        for (payload, name, value), event in zip(cases, stream.events(len(cases))):
            with self.subTest(payload=payload):
                self.assertEqual(event.event, name, event)
                self.assertEqual(len(event.data_lines), 1, event)
                self.assertEqual(json.loads(event.data), value, event)

    def test_other_payloads_are_sent_as_they_are(self):
        stream = self.subscribe("plain")
        payloads = ["plain text", '{"a": 1}', "[]", "[1, 2, 3, 4]", '"a JSON string"',
                    "[not json", "42", "caf\u00e9 \u2603"]
        for payload in payloads:
            self.bare_publish("plain", payload)
        for payload, event in zip(payloads, stream.events(len(payloads))):
            with self.subTest(payload=payload):
                self.assertEqual(sorted(event.lines), [f"data: {payload}", "id: plain=0"], event)
        self.bare_publish("plain", "two\nlines")
        self.assertEqual(stream.next_event().data_lines, ["two", "lines"])

    def test_several_channels_in_one_stream(self):
        stream = self.subscribe("ch-a,ch-b,ch-c")
        self.assertEqual(stream.first.id, "ch-a=0,ch-b=0,ch-c=0")
        b_id = publish(self.redis, "ch-b", "on b")
        self.bare_publish("ch-c", '["on c"]')
        a_id = publish(self.redis, "ch-a", "on a")
        on_b, on_c, on_a = stream.events(3)
        self.assertEqual([(e.channel, e.data) for e in (on_b, on_c, on_a)],
                         [("ch-b", "on b"), ("ch-c", "on c"), ("ch-a", "on a")])
        self.assertEqual(on_b.cursor[0], ("ch-b", b_id))
        self.assertEqual(sorted(on_b.cursor), [("ch-a", "0"), ("ch-b", b_id), ("ch-c", "0")])
        self.assertEqual(on_c.cursor[0], ("ch-c", "0"))
        self.assertEqual(sorted(on_a.cursor), [("ch-a", a_id), ("ch-b", b_id), ("ch-c", "0")])
        self.assertEqual(on_a.cursor[0], ("ch-a", a_id))
        # Channels not in the stream are not delivered.
        self.bare_publish("ch-d", '["not mine"]')
        self.assertEqual(stream.events_within(0.3), [])

    def test_a_query_string_is_not_part_of_the_channel(self):
        stream = self.subscribe("query", query="?utm=x")
        self.assertEqual(stream.first.id, "query=0")


# ---------------------------------------------------------------------------------------------
# Checks: channel names, --sub-allow, methods, --sub-prefix


class RequestCheckTest(SseCase):

    @classmethod
    def setUpClass(cls):
        cls.redis = cls.start_redis_for_class()
        cls.front = cls.start_front_for_class(cls.redis, "--sub-allow", "public.*,news,user:*",
                                              "--timeout", "3s")

    def status(self, target, method="GET", body=None):
        resp = http_request(self.front.http_port, method, target, body=body)
        return resp.status

    def test_bad_channel_names_are_400(self):
        targets = ["/sub/", "/sub/news,", "/sub/,news", "/sub/news,,public.a", "/sub/news/x",
                   "/sub/ne%20ws", "/sub/new$", "/sub/caf%C3%A9", "/sub/a*", "/sub/news+x",
                   "/sub/" + "n" * 129, "/sub/" + ",".join(f"public.{i}" for i in range(17))]
        for target in targets:
            with self.subTest(target=target[:60]):
                self.assertEqual(self.status(target), 400)

    def test_longest_name_and_most_channels_are_accepted(self):
        name = "public." + "x" * 121
        self.assertEqual(len(name), 128)
        for target in (f"/sub/{name}", "/sub/" + ",".join(f"public.{i}" for i in range(16)),
                       "/sub/user:a@b.c-d_E"):
            with self.subTest(target=target[:60]):
                with SseStream(self.front.http_port, target) as stream:
                    self.assertEqual(stream.status, 200, stream.status_line)

    def test_channels_outside_sub_allow_are_403(self):
        for target in ("/sub/secret", "/sub/public", "/sub/newsx", "/sub/public.a,secret",
                       "/sub/secret,news"):
            with self.subTest(target=target):
                self.assertEqual(self.status(target), 403)
        for target in ("/sub/public.a", "/sub/news", "/sub/news,public.b,user:7"):
            with self.subTest(target=target):
                with SseStream(self.front.http_port, target) as stream:
                    self.assertEqual(stream.status, 200, stream.status_line)

    def test_other_methods_are_405(self):
        for method, body in (("POST", b"x"), ("PUT", b"x"), ("DELETE", None), ("PATCH", b""),
                             ("OPTIONS", None)):
            with self.subTest(method=method):
                resp = http_request(self.front.http_port, method, "/sub/news", body=body)
                self.assertEqual(resp.status, 405, resp)
                self.assertEqual(resp.header("allow"), "GET, HEAD", resp)

    def test_other_paths_are_ordinary_jobs(self):
        worker = FakeWorker(self.redis)
        for target in ("/sub", "/subway", "/xsub/news", "/SUB/news"):
            with self.subTest(target=target), HttpConnection(self.front.http_port) as conn:
                conn.request("GET", target)
                job = worker.take_job()
                self.assertEqual(job.request["path"], target)
                job.answer([200, {}, "a job"])
                resp = conn.read_response()
                self.assertEqual((resp.status, resp.body), (200, b"a job"))


class SubPrefixTest(SseCase):

    @classmethod
    def setUpClass(cls):
        cls.redis = cls.start_redis_for_class()
        cls.front = cls.start_front_for_class(cls.redis, "--sub-prefix", "/events/",
                                              "--timeout", "3s")

    def test_the_prefix_is_configurable(self):
        with SseStream(self.front.http_port, "/events/news") as stream:
            self.assertEqual(stream.status, 200, stream.status_line)
            self.assertEqual(stream.next_block().id, "news=0")
        with HttpConnection(self.front.http_port) as conn:
            conn.request("GET", "/sub/news")
            job = FakeWorker(self.redis).take_job()
            self.assertEqual(job.request["path"], "/sub/news")
            job.answer([200, {}, "a job"])
            self.assertEqual(conn.read_response().status, 200)


class CorsTest(SseCase):

    @classmethod
    def setUpClass(cls):
        cls.redis = cls.start_redis_for_class()
        cls.front = cls.start_front_for_class(
            cls.redis, "--cors-origins", "http://a.test,http://127.0.0.1:8000")

    def allow_origin(self, front, origin):
        headers = {"Origin": origin} if origin else {}
        with SseStream(front.http_port, "/sub/cors", headers) as stream:
            self.assertEqual(stream.status, 200, stream.status_line)
            return stream.header("access-control-allow-origin")

    def test_allowed_origins_get_the_header(self):
        for origin in ("http://a.test", "http://127.0.0.1:8000"):
            with self.subTest(origin=origin):
                self.assertEqual(self.allow_origin(self.front, origin), origin)
        with SseStream(self.front.http_port, "/sub/cors", {"Origin": "http://a.test"}) as stream:
            self.assertEqual(stream.header("vary"), "Origin", stream.headers)

    def test_other_origins_get_none(self):
        for origin in ("http://b.test", "http://a.test:80", "https://a.test", "http://127.0.0.1",
                       "null", None):
            with self.subTest(origin=origin):
                self.assertIsNone(self.allow_origin(self.front, origin))

    def test_star_allows_every_origin(self):
        front = self.start_front(self.redis, "--cors-origins", "*")
        self.assertEqual(self.allow_origin(front, "http://anything.test:1234"),
                         "http://anything.test:1234")
        self.assertIsNone(self.allow_origin(front, None))

    def test_no_cors_by_default(self):
        front = self.start_front(self.redis)
        self.assertIsNone(self.allow_origin(front, "http://a.test"))


# ---------------------------------------------------------------------------------------------
# History and resume


class ResumeTest(SseCase):

    @classmethod
    def setUpClass(cls):
        cls.redis = cls.start_redis_for_class()
        cls.front = cls.start_front_for_class(cls.redis)

    def seen_then_missed(self, channel):
        """A subscriber sees two recorded messages and leaves; three more are published.
        Returns (the last id it saw, the ids of the missed ones)."""
        stream = self.subscribe(channel)
        seen = [publish(self.redis, channel, f"seen {i}") for i in (1, 2)]
        events = stream.events(2)
        self.assertEqual([e.id for e in events], [f"{channel}={i}" for i in seen])
        stream.close()
        missed = [publish(self.redis, channel, f"missed {i}") for i in (3, 4, 5)]
        return events[-1].id, missed

    def assert_resumed(self, stream, channel, missed):
        events = stream.events(3)
        self.assertEqual([e.data for e in events], ["missed 3", "missed 4", "missed 5"])
        self.assertEqual([e.id for e in events], [f"{channel}={i}" for i in missed])
        # Then live, and nothing twice.
        live = publish(self.redis, channel, "live 6")
        event = stream.next_event()
        self.assertEqual((event.data, event.id), ("live 6", f"{channel}={live}"))
        self.assertEqual(stream.events_within(0.3), [])

    def test_resume_with_the_last_event_id_header(self):
        last, missed = self.seen_then_missed("res-h")
        stream = self.subscribe("res-h", {"Last-Event-ID": last})
        self.assertEqual(stream.first.id, last)
        self.assert_resumed(stream, "res-h", missed)

    def test_resume_with_the_last_event_id_query_parameter(self):
        last, missed = self.seen_then_missed("res-q")
        encoded = urllib.parse.urlencode({"lastEventId": last})  # = and , percent-encoded
        stream = self.subscribe("res-q", query=f"?{encoded}")
        self.assert_resumed(stream, "res-q", missed)

    def test_resume_with_an_unencoded_query_parameter(self):
        last, missed = self.seen_then_missed("res-r")
        stream = self.subscribe("res-r", query=f"?x=1&lastEventId={last}")
        self.assert_resumed(stream, "res-r", missed)

    def test_resume_over_several_channels(self):
        stream = self.subscribe("mr-a,mr-b")
        a1 = publish(self.redis, "mr-a", "a1")
        last = stream.next_event().id
        self.assertEqual(last, f"mr-a={a1},mr-b=0")
        stream.close()
        b1 = publish(self.redis, "mr-b", "b1")
        a2 = publish(self.redis, "mr-a", "a2")
        b2 = publish(self.redis, "mr-b", "b2")
        stream = self.subscribe("mr-a,mr-b", {"Last-Event-ID": last})
        events = stream.events(3)
        # Merged in id order across channels.
        self.assertEqual([(e.channel, e.data) for e in events],
                         [("mr-b", "b1"), ("mr-a", "a2"), ("mr-b", "b2")])
        self.assertEqual(sorted(events[-1].cursor), [("mr-a", a2), ("mr-b", b2)])
        self.assertIn(("mr-b", b1), [e.cursor[0] for e in events])
        self.assertEqual(stream.events_within(0.3), [])

    def test_a_new_subscriber_starts_at_the_newest_recorded_id(self):
        publish(self.redis, "start", "older news")
        newest = publish(self.redis, "start", "old news")
        stream = self.subscribe("start,start-empty")
        self.assertEqual(stream.first.id, f"start={newest},start-empty=0")
        self.assertEqual(stream.events_within(0.3), [])
        # Likewise for a channel that the client's cursor does not name.
        stream = self.subscribe("start", {"Last-Event-ID": "elsewhere=1-0"})
        self.assertEqual(stream.first.id, f"start={newest}")
        self.assertEqual(stream.events_within(0.3), [])

    def test_a_channel_at_0_replays_its_whole_history(self):
        ids = [publish(self.redis, "whole", f"w{i}") for i in (1, 2, 3)]
        stream = self.subscribe("whole", {"Last-Event-ID": "whole=0"})
        self.assertEqual([(e.data, e.id) for e in stream.events(3)],
                         [(f"w{i + 1}", f"whole={id_}") for i, id_ in enumerate(ids)])

    def test_replay_is_bounded_by_the_replay_limit(self):
        front = self.start_front(self.redis, "--sse-replay-limit", "3")
        first = publish(self.redis, "limit", "l0")
        ids = [publish(self.redis, "limit", f"l{i}") for i in range(1, 6)]
        stream = self.subscribe("limit", {"Last-Event-ID": f"limit={first}"}, front=front)
        events = stream.events(3)
        assert_gap_reported(self, stream, "limit")
        data = [e.data for e in events]
        self.assertIn(data, [[f"l{i}" for i in range(k, k + 3)] for k in (1, 2, 3)])
        self.assertEqual([e.id for e in events],
                         [f"limit={ids[int(d[1:]) - 1]}" for d in data])

    def test_a_malformed_cursor_is_ignored(self):
        for cursor in ("garbage", "junk,,=,=1-0,malformed=abc", "malformed=1-0-0x"):
            with self.subTest(cursor=cursor):
                stream = self.subscribe("malformed", {"Last-Event-ID": cursor})
                self.assertEqual(stream.first.id, "malformed=0")
                self.bare_publish("malformed", '["fine"]')
                self.assertEqual(stream.next_event().data, "fine")
                stream.close()

    def test_bare_publishes_are_not_replayed(self):
        stream = self.subscribe("bare")
        first = publish(self.redis, "bare", "recorded 1")
        last = stream.next_event().id
        stream.close()
        self.bare_publish("bare", '["live only"]')
        second = publish(self.redis, "bare", "recorded 2")
        stream = self.subscribe("bare", {"Last-Event-ID": last})
        event = stream.next_event()
        self.assertEqual((event.data, event.id), ("recorded 2", f"bare={second}"))
        self.assertEqual(stream.events_within(0.3), [])
        self.assertNotEqual(first, second)

    def test_no_duplicates_while_publishing_during_the_replay(self):
        channel = "busy"
        ids = [publish(self.redis, channel, f"m{i}") for i in range(1, 6)]
        resume_from = f"{channel}={ids[-1]}"
        published = []
        errors = []

        def publisher():
            try:
                for i in range(6, 41):
                    published.append(publish(self.redis, channel, f"m{i}"))
            except AssertionError as e:
                errors.append(e)

        thread = threading.Thread(target=publisher, daemon=True)
        thread.start()
        wait_until(lambda: len(published) >= 5 or errors, 10.0, message="5 publishes")
        with SseStream(self.front.http_port, f"/sub/{channel}",
                       {"Last-Event-ID": resume_from}) as stream:
            self.assertEqual(stream.status, 200)
            events = stream.events(35, timeout=20.0)
            thread.join(20.0)
            self.assertFalse(errors, errors)
            self.assertEqual([e.data for e in events], [f"m{i}" for i in range(6, 41)])
            self.assertEqual([e.id for e in events], [f"{channel}={i}" for i in published])
            self.assertEqual(stream.events_within(0.3), [])

    def test_history_is_trimmed_to_the_count(self):
        with self.redis.client() as c:
            # MAXLEN ~ trims whole stream nodes only; one entry per node makes it exact.
            c.config_set("stream-node-max-entries", 1)
        try:
            stream = self.subscribe("trim")
            ids = [publish(self.redis, "trim", f"t{i}", "--history", "3") for i in range(1, 3)]
            last = stream.events(2)[0].id  # the client saw only t1
            stream.close()
            ids += [publish(self.redis, "trim", f"t{i}", "--history", "3") for i in range(3, 9)]
            with self.redis.client() as c:
                self.assertEqual(c.xlen("tempest:history:trim"), 3)
                entries = c.xrange("tempest:history:trim")
            self.assertEqual([(i.decode(), f) for i, f in entries],
                             [(ids[k], {b"e": b"", b"d": f"t{k + 1}".encode()}) for k in (5, 6, 7)])
            stream = self.subscribe("trim", {"Last-Event-ID": last})
            events = stream.events(3)
            self.assertEqual([e.data for e in events], ["t6", "t7", "t8"])
            assert_gap_reported(self, stream, "trim")
        finally:
            with self.redis.client() as c:
                c.config_set("stream-node-max-entries", 100)

    def test_history_expires_after_its_age(self):
        stream = self.subscribe("aged")
        publish(self.redis, "aged", "old", "--history-age", "400ms")
        last = stream.next_event().id
        stream.close()
        publish(self.redis, "aged", "expires too", "--history-age", "400ms")
        with self.redis.client() as c:
            ttl = c.pttl("tempest:history:aged")
            self.assertTrue(0 < ttl <= 400, ttl)
            wait_until(lambda: not c.exists("tempest:history:aged"), 3.0,
                       message="the history key to expire")
        stream = self.subscribe("aged", {"Last-Event-ID": last})
        assert_gap_reported(self, stream, "aged")
        live = publish(self.redis, "aged", "new")
        self.assertEqual(stream.next_event().id, f"aged={live}")


# ---------------------------------------------------------------------------------------------
# Keep-alive and slow subscribers


class KeepAliveTest(SseCase):

    @classmethod
    def setUpClass(cls):
        cls.redis = cls.start_redis_for_class()
        cls.front = cls.start_front_for_class(cls.redis, "--sse-keepalive", "200ms",
                                              "--sse-retry", "500ms")

    def test_retry_follows_the_setting(self):
        with SseStream(self.front.http_port, "/sub/ka-retry") as stream:
            expected = b"retry: 500\nid: ka-retry=0\n\n"
            self.assertEqual(stream.read_bytes(len(expected)), expected)

    def test_an_idle_stream_gets_comment_lines(self):
        stream = self.subscribe("ka")
        start = time.monotonic()
        blocks = [stream.next_block(timeout=2.0) for _ in range(3)]
        elapsed = time.monotonic() - start
        self.assertEqual([b.raw for b in blocks], [b":\n\n"] * 3)
        self.assertTrue(0.3 <= elapsed <= 3.0, f"3 keep-alives took {elapsed:.2f}s")
        # Events still come between them.
        self.bare_publish("ka", '["between"]')
        self.assertEqual(stream.next_event(timeout=2.0).data, "between")


class SlowSubscriberTest(SseCase):

    @classmethod
    def setUpClass(cls):
        cls.redis = cls.start_redis_for_class()
        cls.front = cls.start_front_for_class(cls.redis, "--sse-max-queue", "64k")

    def test_a_subscriber_that_never_reads_is_closed(self):
        channel = "firehose"
        normal = self.subscribe(channel)
        slow = SseStream(self.front.http_port, f"/sub/{channel}", rcvbuf=4096, read_head=False)
        self.addCleanup(slow.close)
        self.wait_info("sse_subscribers", lambda n: n == 2)
        chunk = "x" * 16 * 1024
        received = []
        for i in range(400):
            self.bare_publish(channel, json.dumps([f"{i}:{chunk}"]))
            received.append(normal.next_event().data)
            if i % 20 == 19 and self.front.info()["sse_slow_closed"] >= 1:
                break
        self.wait_info("sse_slow_closed", lambda n: n == 1)
        self.wait_info("sse_subscribers", lambda n: n == 1)
        # The other subscriber got every message, in order, and is still served.
        for i in range(len(received), len(received) + 5):
            self.bare_publish(channel, json.dumps([f"{i}:{chunk}"]))
            received.append(normal.next_event().data)
        self.assertEqual([d.split(":")[0] for d in received],
                         [str(i) for i in range(len(received))])
        self.assertTrue(all(d.endswith(chunk) for d in received))
        self.assertLess(len(received), 400 + 5, "the slow subscriber was never closed")
        # The slow one sees the end of its stream once it reads what was buffered.
        slow.wait_closed(timeout=10.0)


# ---------------------------------------------------------------------------------------------
# One Redis subscription per channel


class RefCountTest(SseCase):

    @classmethod
    def setUpClass(cls):
        cls.redis = cls.start_redis_for_class()
        cls.front = cls.start_front_for_class(cls.redis)

    def connected_clients(self, client):
        return client.info("clients")["connected_clients"]

    def test_many_subscribers_share_one_subscription(self):
        streams = [self.subscribe("shared") for _ in range(8)]
        self.assertEqual(numsub(self.redis, "shared"), 1)
        self.wait_info("sse_channels", lambda n: n == 1)
        self.bare_publish("shared", '["to all"]')
        for stream in streams:
            self.assertEqual(stream.next_event().data, "to all")
        for stream in streams[:-1]:
            stream.close()
        self.wait_info("sse_subscribers", lambda n: n == 1)
        self.assertEqual(numsub(self.redis, "shared"), 1)
        streams[-1].close()
        wait_until(lambda: numsub(self.redis, "shared") == 0, 5.0, message="UNSUBSCRIBE shared")
        self.wait_info("sse_channels", lambda n: n == 0)

    def assert_connected_clients(self, client, predicate, what):
        # The test's own short-lived connections (PUBSUB NUMSUB polls) may take a moment to
        # leave Redis's count, hence a wait rather than one reading.
        wait_until(lambda: predicate(self.connected_clients(client)), 3.0,
                   message=f"connected_clients {what} (now {self.connected_clients(client)})")

    def test_redis_connections_do_not_grow_with_subscribers(self):
        with self.redis.client() as c:
            self.subscribe("conn-0")
            before = self.connected_clients(c)
            streams = [self.subscribe(f"conn-{i % 10}") for i in range(40)]
            self.assert_connected_clients(c, lambda n: n == before, f"== {before}")
            self.assertEqual(numsub(self.redis, "conn-3"), 1)
            for stream in streams:
                stream.close()
            self.wait_info("sse_subscribers", lambda n: n == 1)
            self.assert_connected_clients(c, lambda n: n == before, f"== {before}")

    def test_one_subscription_per_front_thread(self):
        front = self.start_front(self.redis, "--threads", "2")
        with self.redis.client() as c:
            before = self.connected_clients(c)
            streams = [self.subscribe("threads", front=front) for _ in range(12)]
            self.assertIn(numsub(self.redis, "threads"), (1, 2))
            self.wait_info("sse_subscribers", lambda n: n == 12, front=front)  # front-wide
            self.bare_publish("threads", '["to every thread"]')
            for stream in streams:
                self.assertEqual(stream.next_event().data, "to every thread")
            self.assert_connected_clients(c, lambda n: n <= before + 2, f"<= {before} + 2")
            for stream in streams:
                stream.close()
        wait_until(lambda: numsub(self.redis, "threads") == 0, 5.0,
                   message="UNSUBSCRIBE threads on every thread")


# ---------------------------------------------------------------------------------------------
# Losing Redis


class ResyncTest(SseCase):

    def setUp(self):
        self.redis = self.start_redis()
        self.front = self.start_front(self.redis)

    def read_resyncs(self, stream, channels, timeout=10.0):
        """Reads until a tempest.resync arrived for each channel; returns ({channel: lost},
        the other events in arrival order)."""
        deadline = time.monotonic() + timeout
        lost, others = {}, []
        while set(lost) != set(channels):
            event = stream.next_event(max(0.0, deadline - time.monotonic()))
            if event.event != "tempest.resync":
                others.append(event)
                continue
            value = json.loads(event.data)
            self.assertEqual(set(value), {"channel", "lost"}, event)
            self.assertIsInstance(value["lost"], bool, event)
            self.assertNotIn(value["channel"], lost, f"two resyncs for one channel: {event}")
            self.assertEqual(event.channel, value["channel"], event)
            lost[value["channel"]] = value["lost"]
        return lost, others

    def test_redis_restart_sends_resync_then_new_messages(self):
        one = self.subscribe("rs-a")
        two = self.subscribe("rs-a,rs-b")
        publish(self.redis, "rs-a", "before")
        self.assertEqual(one.next_event().data, "before")
        self.assertEqual(two.next_event().data, "before")
        self.redis.restart()  # a fresh, empty server: the history is gone
        self.assertEqual(self.read_resyncs(one, ["rs-a"]), ({"rs-a": True}, []))
        self.assertEqual(self.read_resyncs(two, ["rs-a", "rs-b"]),
                         ({"rs-a": True, "rs-b": True}, []))
        wait_subscribed(self.redis, "rs-a", "rs-b")
        after = publish(self.redis, "rs-a", "after")
        self.bare_publish("rs-b", '["live after"]')
        event = one.next_event()
        self.assertEqual((event.data, event.id), ("after", f"rs-a={after}"))
        self.assertEqual([(e.channel, e.data) for e in two.events(2)],
                         [("rs-a", "after"), ("rs-b", "live after")])
        self.assertEqual(one.events_within(0.3) + two.events_within(0.3), [])
        self.assertEqual(self.front.info()["sse_subscribers"], 2)

    def test_lost_subscriber_connection_replays_from_history(self):
        stream = self.subscribe("kill,kill-live")
        publish(self.redis, "kill", "seen")
        self.assertEqual(stream.next_event().data, "seen")
        with self.redis.client() as c:
            killed = c.execute_command("CLIENT", "KILL", "TYPE", "pubsub")
        self.assertGreaterEqual(killed, 1)
        gap = [publish(self.redis, "kill", f"gap {i}") for i in (1, 2)]
        lost, others = self.read_resyncs(stream, ["kill", "kill-live"])
        # kill has history covering the gap; kill-live only ever had bare PUBLISHes.
        self.assertEqual(lost, {"kill": False, "kill-live": True})
        while len(others) < 2:
            others.append(stream.next_event())
        self.assertEqual([(e.event, e.data, e.cursor[0]) for e in others],
                         [(None, "gap 1", ("kill", gap[0])), (None, "gap 2", ("kill", gap[1]))])
        wait_subscribed(self.redis, "kill", "kill-live")
        publish(self.redis, "kill", "live")
        self.assertEqual(stream.next_event().data, "live")
        self.assertEqual(stream.events_within(0.3), [])

    def test_history_trimmed_during_the_gap_is_reported_lost(self):
        stream = self.subscribe("trimgap")
        publish(self.redis, "trimgap", "seen")
        self.assertEqual(stream.next_event().data, "seen")
        # In one transaction, so the front cannot come back in between: drop its pub/sub
        # connection, then record four messages the way publishers do, keeping only two.
        with self.redis.client() as c:
            pipe = c.pipeline(transaction=True)
            pipe.execute_command("CLIENT", "KILL", "TYPE", "pubsub")
            for i in range(1, 5):
                pipe.xadd("tempest:history:trimgap", {"e": "", "d": f"gap {i}"}, maxlen=2,
                          approximate=False)
            pipe.execute()
        lost, others = self.read_resyncs(stream, ["trimgap"])
        while len(others) < 2:
            others.append(stream.next_event())
        self.assertEqual([e.data for e in others], ["gap 3", "gap 4"])
        self.assertEqual(lost, {"trimgap": True}, "gap 1 and gap 2 were trimmed before replay")

    def test_stalled_redis_refuses_new_streams_with_503_in_time(self):
        self.redis.pause()
        try:
            start = time.monotonic()
            resp = http_request(self.front.http_port, "GET", "/sub/stalled", timeout=10.0)
            self.assertEqual(resp.status, 503, resp)
            self.assert_elapsed_between(start, 4.0, 8.0, "503 when SUBSCRIBE is not confirmed")
        finally:
            self.redis.resume()

    def test_redis_down_refuses_new_streams_with_503(self):
        self.redis.stop()
        start = time.monotonic()
        resp = http_request(self.front.http_port, "GET", "/sub/down", timeout=8.0)
        self.assertEqual(resp.status, 503, resp)
        self.assertEqual(resp.header("retry-after"), "1", resp)
        self.assert_elapsed_between(start, 0.0, 6.0, "503 while Redis is down")
        self.redis.restart()

        def served():
            with SseStream(self.front.http_port, "/sub/down") as stream:
                return stream.status == 200

        wait_until(served, 10.0, interval=0.2, message="streams served again once Redis is back")


# ---------------------------------------------------------------------------------------------
# INFO counters


class CountersTest(SseCase):

    def setUp(self):
        self.redis = self.start_redis()
        self.front = self.start_front(self.redis)

    def counters(self):
        info = self.front.info()
        names = ("sse_subscribers", "sse_subscribers_total", "sse_channels", "sse_events_sent",
                 "sse_slow_closed", "sse_replayed")
        return {name: info[name] for name in names}

    def test_counters_follow_subscribers_and_events(self):
        self.assertEqual(set(self.counters().values()), {0})
        one = self.subscribe("k1")
        two = self.subscribe("k1,k2")
        self.assertEqual(self.counters(), {"sse_subscribers": 2, "sse_subscribers_total": 2,
                                           "sse_channels": 2, "sse_events_sent": 0,
                                           "sse_slow_closed": 0, "sse_replayed": 0})
        first = publish(self.redis, "k1", "to both")
        for stream in (one, two):
            self.assertEqual(stream.next_event().data, "to both")
        self.wait_info("sse_events_sent", lambda n: n == 2)
        one.close()
        self.wait_info("sse_subscribers", lambda n: n == 1)
        two.close()
        self.wait_info("sse_subscribers", lambda n: n == 0)
        self.wait_info("sse_channels", lambda n: n == 0)
        publish(self.redis, "k1", "missed 1")
        publish(self.redis, "k1", "missed 2")
        three = self.subscribe("k1", {"Last-Event-ID": f"k1={first}"})
        self.assertEqual([e.data for e in three.events(2)], ["missed 1", "missed 2"])
        self.wait_info("sse_replayed", lambda n: n == 2)
        # sse_events_sent counts live events only; replayed ones are sse_replayed.
        self.assertEqual(self.counters(), {"sse_subscribers": 1, "sse_subscribers_total": 3,
                                           "sse_channels": 1, "sse_events_sent": 2,
                                           "sse_slow_closed": 0, "sse_replayed": 2})


# ---------------------------------------------------------------------------------------------
# Streams and the front's own limits and lifecycle


class LifecycleTest(SseCase):

    def setUp(self):
        self.redis = self.start_redis()

    def test_sigterm_closes_streams_and_exits(self):
        self.front = self.start_front(self.redis, "--shutdown-timeout", "5s")
        streams = [self.subscribe("term"), self.subscribe("term,other")]
        start = time.monotonic()
        self.front.send_signal(signal.SIGTERM)
        for stream in streams:
            stream.wait_closed(timeout=5.0)
        self.assertEqual(self.front.wait(), 0)
        self.assert_elapsed_between(start, 0.0, 2.0, "SIGTERM with open streams")

    def test_max_connections_counts_streams(self):
        self.front = self.start_front(self.redis, "--max-connections", "2")
        first = self.subscribe("full")
        self.subscribe("full")
        with self.assertRaises(ConnectionClosed):
            SseStream(self.front.http_port, "/sub/full").close()
        first.close()
        self.wait_info("sse_subscribers", lambda n: n == 1)
        self.subscribe("full")
