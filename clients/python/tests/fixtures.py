"""Real-process fixtures for the Python client's tests: a redis-server on a free loopback port,
the real front ($TEMPEST_BUILD_DIR/tempest front, default <repo>/build), workers in a thread of
the test or as subprocesses, HTTP and Server-Sent Events clients, and a fake answer endpoint for
jobs the test pushes itself (2012 format, other actions). Every wait is bounded; every process is
stopped by the case's cleanups (and killed at exit as a safety net).

    class T(ClientCase):
        def test_x(self):
            front = self.front("--timeout", "2s")        # its own redis too (self.redis)
            self.thread_worker(worker)                   # worker.run() in a thread, stopped at cleanup
            status, headers, body = http(front, "GET", "/x")
"""

import atexit
import http.client as http_client
import json
import logging
import os
import select
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import warnings

CLIENT_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO_DIR = os.path.dirname(os.path.dirname(CLIENT_DIR))
BUILD_DIR = os.environ.get("TEMPEST_BUILD_DIR") or os.path.join(REPO_DIR, "build")
TEMPEST_BIN = os.path.join(BUILD_DIR, "tempest")
PYTHON = "/usr/bin/python3"
LOOPBACK = "127.0.0.1"

sys.path.insert(0, CLIENT_DIR)
import redis  # noqa: E402

_live = set()


@atexit.register
def _kill_leftovers():
    for p in list(_live):
        if p.poll() is None:
            p.kill()
            p.wait(5)


def free_port():
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def wait_until(pred, timeout=5.0, interval=0.02, message="condition"):
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            v = pred()
            if v:
                return v
        except Exception as e:  # noqa: BLE001 - a poll may hit something still starting
            last = e
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}" + (f" ({last!r})" if last else ""))
        time.sleep(interval)


class Process:
    """A child with its stderr in a temp file; stop() is SIGTERM then wait, kill() SIGKILL."""

    def __init__(self, name, argv, env=None, stdout=subprocess.DEVNULL, cwd=None):
        self.name = name
        self.log_file = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=stdout, stderr=self.log_file,
                                     env=env, cwd=cwd, start_new_session=True)
        _live.add(self.proc)

    def alive(self):
        return self.proc.poll() is None

    def log(self):
        self.log_file.seek(0)
        return self.log_file.read().decode("utf-8", "replace")

    def stop(self, timeout=10):
        if self.alive():
            self.proc.terminate()
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
            raise AssertionError(f"{self.name} did not stop within {timeout}s")
        finally:
            _live.discard(self.proc)

    def kill(self):
        if self.alive():
            self.proc.kill()
        self.proc.wait(5)
        _live.discard(self.proc)


class RedisServer:
    def __init__(self):
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="tempest-py-redis-")
        self.unix_path = os.path.join(self.dir, "redis.sock")
        self._spawn()

    def restart(self):
        """A fresh, empty server on the same port."""
        self.process.stop()
        self._spawn()

    def _spawn(self):
        self.process = Process("redis-server", ["/usr/bin/redis-server", "--port", str(self.port), "--bind", LOOPBACK,
                                                "--save", "", "--appendonly", "no", "--dir", self.dir,
                                                "--unixsocket", self.unix_path, "--unixsocketperm", "700"])
        wait_until(lambda: self.client().ping(), 10, message="redis-server to answer PING")

    @property
    def url(self):
        return f"redis://{LOOPBACK}:{self.port}/0"

    def client(self):
        return redis.Redis(host=LOOPBACK, port=self.port, socket_timeout=5, socket_connect_timeout=2)

    def stop(self):
        self.process.stop()


class Front:
    def __init__(self, redis_server, *flags):
        argv = [TEMPEST_BIN, "front", "--listen", f"{LOOPBACK}:0", "--redis", redis_server.url,
                "--log-level", "warn", *flags]
        env = {k: v for k, v in os.environ.items() if not k.startswith("TEMPEST_")}
        self.process = Process("front", argv, env=env, stdout=subprocess.PIPE)
        line = _read_line(self.process, 10)
        if not line.startswith("ready "):
            self.process.kill()
            raise AssertionError(f"the front printed {line!r}, not its ready line:\n{self.process.log()}")
        fields = dict(t.partition("=")[::2] for t in line.split()[1:])
        self.http_port = int(fields["http"].rpartition(":")[2])
        self.answer = fields["answer"].split(",")
        self.queue = fields["queue"]
        self.redis = redis_server

    def info(self):
        host, _, port = self.answer[0].rpartition(":")
        return redis.Redis(host=host, port=int(port), socket_timeout=5).info()

    def stop(self):
        self.process.stop()


def _read_line(process, timeout):
    fd = process.proc.stdout.fileno()
    data = b""
    deadline = time.monotonic() + timeout
    while not data.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0 or not process.alive() and not select.select([fd], [], [], 0)[0]:
            raise AssertionError(f"{process.name}: no ready line within {timeout}s:\n{process.log()}")
        if select.select([fd], [], [], min(left, 0.1))[0]:
            chunk = os.read(fd, 1)
            if not chunk:
                break
            data += chunk
    return data.decode()


def http(front, method, path, body=None, headers=None, timeout=10):
    """One request on its own connection: (status, [(name, value)...], body bytes)."""
    c = http_client.HTTPConnection(LOOPBACK, front.http_port, timeout=timeout)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        return r.status, r.getheaders(), r.read()
    finally:
        c.close()


def header(headers, name):
    return [v for n, v in headers if n.lower() == name.lower()]


class SseClient:
    """GET /sub/<channels> on a raw socket; events() parses the blocks as they come."""

    def __init__(self, front, path, headers=None):
        self.sock = socket.create_connection((LOOPBACK, front.http_port), timeout=5)
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        self.sock.sendall(f"GET {path} HTTP/1.1\r\nHost: t\r\n{extra}\r\n".encode())
        self.buf = b""
        head = self._until(b"\r\n\r\n")
        self.status = int(head.split()[1])

    def _until(self, sep, timeout=5):
        deadline = time.monotonic() + timeout
        while sep not in self.buf:
            if time.monotonic() > deadline:
                raise AssertionError(f"no {sep!r} within {timeout}s; got {self.buf!r}")
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            chunk = self.sock.recv(65536)
            if not chunk:
                raise AssertionError(f"stream closed; got {self.buf!r}")
            self.buf += chunk
        out, _, self.buf = self.buf.partition(sep)
        return out

    def next_event(self, timeout=5):
        """The next block with data: {"id":..., "event":..., "data":...}."""
        deadline = time.monotonic() + timeout
        while True:
            block = self._until(b"\n\n", max(0.01, deadline - time.monotonic())).decode()
            ev = {}
            for line in block.split("\n"):
                k, _, v = line.partition(":")
                v = v[1:] if v.startswith(" ") else v
                if k == "data":
                    ev["data"] = ev["data"] + "\n" + v if "data" in ev else v
                elif k in ("id", "event"):
                    ev[k] = v
            if "data" in ev:
                return ev

    def close(self):
        self.sock.close()


class FakeEndpoint:
    """A RESP server that records every command and replies +OK: the answer endpoint of a
    2012-style front (the tests push its jobs themselves)."""

    def __init__(self, reply_delay=0.0):
        self.reply_delay = reply_delay  # seconds before each +OK (a slow front)
        self.sock = socket.socket()
        self.sock.bind((LOOPBACK, 0))
        self.sock.listen(16)
        self.address = f"{LOOPBACK}:{self.sock.getsockname()[1]}"
        self.commands = []
        self.conns = []
        self.cond = threading.Condition()
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.closed:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(c)
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def drop_connections(self):
        """Closes every accepted connection (a front that went away and came back)."""
        for c in self.conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.conns.clear()

    def _serve(self, c):
        f = c.makefile("rb")
        try:
            while True:
                line = f.readline()
                if not line.startswith(b"*"):
                    return
                parts = []
                for _ in range(int(line[1:])):
                    n = int(f.readline()[1:])
                    parts.append(f.read(n + 2)[:-2])
                if self.reply_delay:
                    time.sleep(self.reply_delay)
                c.sendall(b"+OK\r\n")
                with self.cond:
                    self.commands.append(parts)
                    self.cond.notify_all()
        except (OSError, ValueError):
            return
        finally:
            c.close()

    def wait_commands(self, n, timeout=5):
        with self.cond:
            if not self.cond.wait_for(lambda: len(self.commands) >= n, timeout):
                raise AssertionError(f"the endpoint got {len(self.commands)} commands, not {n}, within {timeout}s")
            return list(self.commands)

    def close(self):
        self.closed = True
        self.sock.close()


def job(action, request_or_args, respond_to, job_id):
    args = [request_or_args] if isinstance(request_or_args, dict) else request_or_args
    return json.dumps([action, args, respond_to, job_id])


class ClientCase(unittest.TestCase):
    """Starts what a test asks for and stops it at cleanup; prints the logs of a failed test."""

    def setUp(self):
        # redis-py clients made for one assertion are closed by the garbage collector
        warnings.simplefilter("ignore", ResourceWarning)
        self._processes = []
        # the log lines of workers run in the test's threads: shown only when the test fails
        self._log_lines = []
        handler = logging.Handler()
        handler.emit = lambda record: self._log_lines.append(logging.Formatter(
            "%(asctime)s %(levelname)s %(name)s: %(message)s").format(record))
        logger = logging.getLogger("tempest")
        logger.addHandler(handler)
        logger.propagate = False
        self.addCleanup(logger.removeHandler, handler)

    def redis_server(self):
        r = RedisServer()
        self._keep(r.process)
        self.addCleanup(r.stop)
        return r

    def front(self, *flags, redis_server=None):
        self.redis = redis_server or getattr(self, "redis", None) or self.redis_server()
        f = Front(self.redis, *flags)
        self._keep(f.process)
        self.addCleanup(f.stop)
        return f

    def thread_worker(self, worker):
        """Runs worker.run() in a thread; stopped (and joined) at cleanup."""
        result = {}
        t = threading.Thread(target=lambda: result.setdefault("rc", worker.run(install_signals=False)), daemon=True)
        t.start()

        def stop():
            worker.stop()
            t.join(10)
            self.assertFalse(t.is_alive(), "the worker thread did not stop within 10 s")
        self.addCleanup(stop)
        return t

    def spawn(self, name, argv, env_extra=None, cwd=None):
        env = dict(os.environ)
        env.pop("TEMPEST_REDIS", None)
        env.update(env_extra or {})
        p = Process(name, argv, env=env, cwd=cwd)
        self._keep(p)
        self.addCleanup(p.kill)
        return p

    def _keep(self, p):
        self._processes.append(p)

    def run(self, result=None):
        failures = len(result.failures) + len(result.errors) if result else 0
        out = super().run(result)
        if result and len(result.failures) + len(result.errors) > failures:
            for p in self._processes:
                log = p.log().strip()
                if log:
                    sys.stderr.write(f"\n--- {p.name} stderr ---\n{log[-4000:]}\n")
            if self._log_lines:
                sys.stderr.write("\n--- tempest log (in-process workers) ---\n" + "\n".join(self._log_lines[-100:]) + "\n")
        return out


def wait_workers(redis_server, n, timeout=5):
    """Until tempest:workers has n members (reliable lanes registered)."""
    c = redis_server.client()
    return wait_until(lambda: c.scard("tempest:workers") >= n, timeout, message=f"{n} registered workers")
