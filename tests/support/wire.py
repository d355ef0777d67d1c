"""Hand-written HTTP/1.1 and RESP clients over raw sockets, for the integration tests.

The front is tested with exact bytes (framing attacks, pipelining, 100-continue), so these
clients send what they are given and parse what comes back without any normalisation:

    conn = HttpConnection(port)            # every recv has a timeout (READ_TIMEOUT)
    conn.send(b"GET / HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n")
    resp = conn.read_response()            # Response: status, headers (lower-case), body
    conn.wait_closed()                     # asserts the server closes; returns stray bytes
    resp = http_request(port, "POST", "/x", body=b"...")   # one request, fresh connection
    with RespConnection(answer_port) as c:
        c.command("PING") == ("+", "PONG")

support/harness.py re-exports these names; tests import from there.
"""

import json
import socket
import threading
import time

LOOPBACK = "127.0.0.1"
# Default timeout of one socket read.
READ_TIMEOUT = 5.0


class RespConnection:
    """A raw RESP connection, for asserting exact reply lines (-NOAUTH, -ERR ...).

    command() returns (kind, value): ("+", "OK"), ("-", "ERR unknown job"), (":", 3),
    ("$", b"bulk" or None), ("*", [(kind, value), ...])."""

    def __init__(self, port, host=LOOPBACK, timeout=READ_TIMEOUT):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.file = self.sock.makefile("rb")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self.file.close()
        self.sock.close()

    def send_raw(self, data):
        self.sock.sendall(data)

    def command(self, *args):
        parts = [a if isinstance(a, bytes) else str(a).encode() for a in args]
        self.send_raw(b"*%d\r\n" % len(parts)
                      + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts))
        return self.read_reply()

    def read_reply(self):
        line = self.file.readline()
        if not line:
            raise ConnectionClosed("answer endpoint closed the connection")
        kind, rest = chr(line[0]), line[1:].rstrip(b"\r\n")
        if kind in "+-":
            return kind, rest.decode("utf-8", "replace")
        if kind == ":":
            return kind, int(rest)
        if kind == "$":
            n = int(rest)
            if n < 0:
                return kind, None
            data = self.file.read(n + 2)
            return kind, data[:n]
        if kind == "*":
            return kind, [self.read_reply() for _ in range(int(rest))]
        raise AssertionError(f"bad RESP reply line {line!r}")


# ---------------------------------------------------------------------------------------------
# HTTP over raw sockets


class Response:
    """A parsed HTTP response. headers: list of (lower-case name, value) in arrival order;
    interim: the 1xx responses that came before it."""

    def __init__(self, version, status, reason, headers, body, interim=()):
        self.version = version
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body
        self.interim = list(interim)

    def header(self, name):
        """The value of a header (several joined with ", "), or None."""
        values = self.header_values(name)
        return ", ".join(values) if values else None

    def header_values(self, name):
        name = name.lower()
        return [v for n, v in self.headers if n == name]

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"<Response {self.status} {self.headers!r} body={self.body[:200]!r}>"


class ConnectionClosed(ConnectionError):
    """The server closed the connection before a complete response arrived."""


class HttpConnection:
    """One TCP connection to the front for hand-written request bytes.

    Every read has a timeout (READ_TIMEOUT per recv, or timeout=); a hung server fails the test
    with socket.timeout instead of hanging it."""

    def __init__(self, port, host=LOOPBACK, timeout=READ_TIMEOUT):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.settimeout(timeout)
        self.timeout = timeout
        self.buffer = b""
        self.eof = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self.sock.close()

    def send(self, data):
        self.sock.sendall(data)

    def request(self, method, target, headers=None, body=None, version="HTTP/1.1"):
        self.send(build_request(method, target, headers, body, version))

    def _fill(self):
        if self.eof:
            raise ConnectionClosed("connection closed by the server")
        try:
            chunk = self.sock.recv(65536)
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            self.eof = True
            raise ConnectionClosed("connection closed by the server")
        self.buffer += chunk

    def _read_line(self):
        while b"\r\n" not in self.buffer:
            if len(self.buffer) > 1 << 20:
                raise AssertionError("response line longer than 1 MiB")
            self._fill()
        line, _, self.buffer = self.buffer.partition(b"\r\n")
        return line

    def _read_exact(self, n):
        while len(self.buffer) < n:
            self._fill()
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def _read_to_eof(self):
        while True:
            try:
                self._fill()
            except ConnectionClosed:
                break
        data, self.buffer = self.buffer, b""
        return data

    def _read_head(self):
        status_line = self._read_line().decode("latin-1")
        version, _, rest = status_line.partition(" ")
        code, _, reason = rest.partition(" ")
        if not version.startswith("HTTP/") or not code.isdigit():
            raise AssertionError(f"bad status line {status_line!r}")
        headers = []
        while True:
            line = self._read_line()
            if not line:
                break
            name, _, value = line.decode("latin-1").partition(":")
            headers.append((name.strip().lower(), value.strip()))
        return version, int(code), reason, headers

    def read_response(self, head=False, skip_interim=True):
        """Reads one response. head=True: the request was HEAD (no body follows).
        skip_interim: 1xx responses are collected in .interim instead of being returned."""
        interim = []
        while True:
            version, status, reason, headers = self._read_head()
            if status >= 200 or not skip_interim:
                break
            interim.append(Response(version, status, reason, headers, b""))
        response = Response(version, status, reason, headers, b"", interim)
        if head or status < 200 or status in (204, 304):
            return response
        te = (response.header("transfer-encoding") or "").lower()
        if te:
            if te != "chunked":
                raise AssertionError(f"front sent Transfer-Encoding {te!r}")
            response.body = self._read_chunked()
        elif response.header("content-length") is not None:
            response.body = self._read_exact(int(response.header("content-length")))
        else:
            response.body = self._read_to_eof()
        return response

    def _read_chunked(self):
        body = b""
        while True:
            size = int(self._read_line().split(b";")[0], 16)
            if size == 0:
                while self._read_line():  # trailers
                    pass
                return body
            body += self._read_exact(size)
            if self._read_exact(2) != b"\r\n":
                raise AssertionError("chunk data not followed by CRLF")

    def wait_closed(self, timeout=3.0):
        """Waits until the server closes the connection; returns any bytes that came first
        (a caller usually asserts it is b""). Raises AssertionError if still open."""
        self.sock.settimeout(timeout)
        deadline = time.monotonic() + timeout
        extra = self.buffer
        self.buffer = b""
        try:
            while time.monotonic() < deadline:
                try:
                    chunk = self.sock.recv(65536)
                except ConnectionResetError:
                    return extra
                if not chunk:
                    return extra
                extra += chunk
        except socket.timeout:
            pass
        finally:
            self.sock.settimeout(self.timeout)
        raise AssertionError(f"connection still open after {timeout}s (got {extra[:200]!r})")

    def is_open(self, wait=0.2):
        """True when the server has not closed the connection within `wait` seconds."""
        self.sock.settimeout(wait)
        try:
            chunk = self.sock.recv(1, socket.MSG_PEEK)
            return bool(chunk)
        except socket.timeout:
            return True
        except OSError:
            return False
        finally:
            self.sock.settimeout(self.timeout)


def build_request(method, target, headers=None, body=None, version="HTTP/1.1"):
    """Request bytes with Host (unless given) and Content-Length (when body is given)."""
    headers = list((headers or {}).items()) if isinstance(headers, dict) else list(headers or [])
    names = {n.lower() for n, _ in headers}
    if "host" not in names and version == "HTTP/1.1":
        headers.insert(0, ("Host", "test"))
    if body is not None and "content-length" not in names and "transfer-encoding" not in names:
        headers.append(("Content-Length", str(len(body))))
    head = f"{method} {target} {version}\r\n"
    head += "".join(f"{n}: {v}\r\n" for n, v in headers) + "\r\n"
    return head.encode("latin-1") + (body or b"")


def http_request(port, method="GET", target="/", headers=None, body=None, timeout=READ_TIMEOUT):
    """One request on a fresh connection; returns the Response."""
    with HttpConnection(port, timeout=timeout) as conn:
        conn.request(method, target, headers, body)
        return conn.read_response(head=(method == "HEAD"))


def http_raw(port, data, timeout=READ_TIMEOUT):
    """Sends raw bytes on a fresh connection; returns (Response, the open HttpConnection)."""
    conn = HttpConnection(port, timeout=timeout)
    try:
        conn.send(data)
        return conn.read_response(), conn
    except BaseException:
        conn.close()
        raise


class SilentListener:
    """A TCP listener that accepts and never replies: a hung answer endpoint. It counts the
    connections it accepted; with read=True it records what they sent, with read=False it never
    reads (with a small rcvbuf, a writer's buffers fill at once)."""

    def __init__(self, read=True, rcvbuf=None, backlog=64):
        self.sock = socket.socket()
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.bind((LOOPBACK, 0))
        self.sock.listen(backlog)
        self.address = f"{LOOPBACK}:{self.sock.getsockname()[1]}"
        self.read = read
        self.accepted = 0
        self.received = b""
        self.lock = threading.Lock()
        self.conns = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.accepted += 1
                self.conns.append(conn)
            if self.read:
                threading.Thread(target=self._read, args=(conn,), daemon=True).start()

    def _read(self, conn):
        try:
            while True:
                data = conn.recv(65536)
                if not data:
                    return
                with self.lock:
                    self.received += data
        except OSError:
            return

    def close(self):
        self.sock.close()
        with self.lock:
            for c in self.conns:
                c.close()
