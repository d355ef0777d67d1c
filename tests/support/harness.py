"""Real-process fixtures for the Tempest integration tests.

Every integration test runs real programs on free loopback ports and talks to them over real
sockets; this module starts and stops them and speaks the wire protocols in a few lines each.

    redis = RedisServer.start()                    # /usr/bin/redis-server, waits for PING
    redis.client().llen("tempest"); redis.stop(); redis.restart()   # same port
    redis.pause(); redis.resume()                  # SIGSTOP / SIGCONT: a stalled Redis
    front = Front.start(redis, "--timeout", "1s")  # build/tempest front, parses the ready line
    front.http_port, front.answer_port, front.answer_ports, front.info()["jobs_pushed"]
    worker = Worker.start("echo_worker", redis, queue="tempest")     # build/examples/<name>
    worker.kill()                                  # SIGKILL, no goodbye
    conn = HttpConnection(front.http_port); conn.send(b"GET / HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n")
    resp = conn.read_response(); resp.status, resp.header("content-type"), resp.body
    resp = http_request(front.http_port, "POST", "/echo", body=b"...")  # one request, one connection
    job = FakeWorker(redis).take_job()             # BLPOP a job as a worker would ...
    job.answer([200, {}, "hi"])                    # ... and answer it over RESP (redis-py)

The socket-level clients (HttpConnection, RespConnection ...) live in support/wire.py and are
re-exported here, so a test imports everything from support.harness.

TempestCase (a unittest.TestCase) wraps these with cleanups, so a test never leaks a process,
and prints the stderr of the processes it started when the test fails.

Binaries come from $TEMPEST_BUILD_DIR (CTest sets it), else <repo>/build. Every wait is bounded:
socket reads have timeouts, process waits have timeouts, polls have deadlines.

If you change the front's ready line, its flags or the job format (docs/protocol.md), change the
parsers here too: Front._parse_ready_line, Job.
"""

import atexit
import json
import os
import resource
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import redis as redis_py

from support.wire import (LOOPBACK, READ_TIMEOUT, ConnectionClosed, HttpConnection,
                          RespConnection, Response, SilentListener, build_request, http_raw,
                          http_request)

__all__ = [
    # processes
    "RedisServer", "Front", "Worker", "run_tempest", "curl", "TempestCase",
    # a worker in the test itself
    "FakeWorker", "Job", "answer",
    # utilities
    "free_port", "wait_until", "split_host_port", "port_accepts", "BUILD_DIR", "LOOPBACK",
    # re-exported from support.wire
    "READ_TIMEOUT", "ConnectionClosed", "HttpConnection", "RespConnection", "Response",
    "SilentListener", "build_request", "http_raw", "http_request",
]

REPO_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD_DIR = os.environ.get("TEMPEST_BUILD_DIR") or os.path.join(REPO_DIR, "build")
TEMPEST_BIN = os.path.join(BUILD_DIR, "tempest")
REDIS_SERVER_BIN = "/usr/bin/redis-server"
CURL_BIN = "/usr/bin/curl"

# How long a fixture waits for a process to become ready or to exit.
START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0

_LOG_DIR = tempfile.mkdtemp(prefix="tempest-it-")
_live_processes = set()  # safety net: whatever is still running at exit gets SIGKILL


def _cleanup_at_exit():
    for proc in list(_live_processes):
        if proc.poll() is None:
            proc.kill()
            try:
                proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                pass
    if not os.environ.get("TEMPEST_KEEP_LOGS"):
        shutil.rmtree(_LOG_DIR, ignore_errors=True)


atexit.register(_cleanup_at_exit)


# ---------------------------------------------------------------------------------------------
# Small utilities


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout=5.0, interval=0.02, message="condition"):
    """Polls predicate() until it returns a truthy value, which is returned; raises
    AssertionError after timeout seconds. Exceptions from predicate count as false."""
    deadline = time.monotonic() + timeout
    last_error = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except Exception as e:  # noqa: BLE001 - a poll may hit a process that is still starting
            last_error = e
        if time.monotonic() >= deadline:
            detail = f" (last error: {last_error!r})" if last_error else ""
            raise AssertionError(f"timed out after {timeout}s waiting for {message}{detail}")
        time.sleep(interval)


def split_host_port(address):
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


def port_accepts(port, host=LOOPBACK, timeout=0.5):
    """True when a TCP connect to host:port succeeds."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


class _Process:
    """A child process with its stderr in a log file; stop() is idempotent."""

    def __init__(self, name, argv, env=None, stdout=subprocess.DEVNULL, nofile=None, fsize=None):
        self.name = name
        self.argv = argv
        fd, self.log_path = tempfile.mkstemp(prefix=name + "-", suffix=".log", dir=_LOG_DIR)
        self._log = os.fdopen(fd, "wb")
        # nofile, fsize: the child's RLIMIT_NOFILE and RLIMIT_FSIZE (soft and hard), as
        # `ulimit -n` and `ulimit -f` would set them
        limits = [(r, v) for r, v in ((resource.RLIMIT_NOFILE, nofile), (resource.RLIMIT_FSIZE, fsize)) if v]

        def limit():
            for r, v in limits:
                resource.setrlimit(r, (v, v))
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=stdout,
                                     stderr=self._log, env=env, start_new_session=True,
                                     preexec_fn=limit if limits else None)
        _live_processes.add(self.proc)
        self.returncode = None

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc.poll() is None

    def log(self):
        """Everything the process wrote on stderr so far."""
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def send_signal(self, signum):
        if self.alive():
            self.proc.send_signal(signum)

    def wait(self, timeout=STOP_TIMEOUT):
        """Waits for exit; returns the exit code (negative: killed by that signal).
        On timeout kills the process and raises AssertionError."""
        try:
            self.returncode = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"{self.name} (pid {self.pid}) did not exit within {timeout}s")
        finally:
            if self.proc.poll() is not None:
                _live_processes.discard(self.proc)
                self._log.close()
        return self.returncode

    def stop(self, signum=signal.SIGTERM, timeout=STOP_TIMEOUT):
        """Sends signum (SIGTERM) and waits for exit; returns the exit code."""
        self.send_signal(signum)
        return self.wait(timeout)

    def kill(self):
        """SIGKILL and reap; safe to call twice."""
        if self.alive():
            self.proc.kill()
        try:
            self.returncode = self.proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            pass
        _live_processes.discard(self.proc)
        self._log.close()
        return self.returncode


# ---------------------------------------------------------------------------------------------
# redis-server


class RedisServer:
    """A real /usr/bin/redis-server on a free loopback port, no persistence.

    With unix_socket=True it also listens on a unix socket (unix_url)."""

    def __init__(self, port, unix_socket=False):
        self.port = port
        self.dir = tempfile.mkdtemp(prefix="redis-", dir=_LOG_DIR)
        self.unix_path = os.path.join(self.dir, "redis.sock") if unix_socket else None
        self._process = None

    @classmethod
    def start(cls, port=None, unix_socket=False):
        server = cls(port or free_port(), unix_socket)
        server._spawn()
        return server

    @property
    def url(self):
        return f"redis://{LOOPBACK}:{self.port}"

    def url_db(self, db):
        return f"{self.url}/{db}"

    @property
    def unix_url(self):
        return f"unix:{self.unix_path}"

    def client(self, db=0, **kwargs):
        """A redis-py client (bytes replies) with short timeouts."""
        return redis_py.Redis(host=LOOPBACK, port=self.port, db=db, socket_timeout=5,
                              socket_connect_timeout=2, **kwargs)

    def ping(self):
        try:
            with self.client() as c:
                return c.ping()
        except redis_py.RedisError:
            return False

    def _spawn(self):
        argv = [REDIS_SERVER_BIN, "--port", str(self.port), "--bind", LOOPBACK, "--save", "",
                "--appendonly", "no", "--dir", self.dir, "--daemonize", "no",
                "--loglevel", "warning"]
        if self.unix_path:
            argv += ["--unixsocket", self.unix_path, "--unixsocketperm", "700"]
        self._process = _Process(f"redis-{self.port}", argv)
        try:
            wait_until(lambda: self._process.alive() and self.ping(), START_TIMEOUT,
                       message=f"redis-server on port {self.port} to answer PING")
        except AssertionError:
            self._process.kill()
            raise AssertionError(f"redis-server did not start:\n{self._process.log()}")

    def pause(self):
        """SIGSTOP: the server keeps its connections but answers nothing (a stalled Redis)."""
        self._process.send_signal(signal.SIGSTOP)

    def resume(self):
        self._process.send_signal(signal.SIGCONT)

    def stop(self):
        """Stops the server (SIGTERM, nothing saved) and waits until the port is closed."""
        if self._process and self._process.alive():
            self.resume()  # a paused server would not act on SIGTERM
            self._process.stop()
        wait_until(lambda: not port_accepts(self.port), 5.0, message="redis port to close")

    def restart(self):
        """Starts a fresh, empty server on the same port (and unix socket)."""
        self.stop()
        self._spawn()

    def alive(self):
        return self._process is not None and self._process.alive()

    def processes(self):
        return [self._process] if self._process else []


# ---------------------------------------------------------------------------------------------
# The front


class Front:
    """`build/tempest front` with the given flags; start() returns once the ready line is read.

    Ready line (stdout, one line):
        ready http=127.0.0.1:PORT answer=127.0.0.1:PORT[,127.0.0.1:PORT...] redis=URL queue=NAME
    """

    def __init__(self, process, ready):
        self.process = process
        self.ready = ready  # the ready line's key=value pairs
        self.http_host, self.http_port = split_host_port(ready["http"])
        self.answer_addresses = ready["answer"].split(",")
        self.answer_ports = [split_host_port(a)[1] for a in self.answer_addresses]
        self.answer_port = self.answer_ports[0]
        self.redis_url = ready.get("redis")
        self.queue = ready.get("queue")

    @classmethod
    def start(cls, redis=None, *flags, env=None, listen=f"{LOOPBACK}:0",
              answer_listen=f"{LOOPBACK}:0", timeout=START_TIMEOUT, nofile=None, fsize=None):
        """redis: a RedisServer, a URL string, or None (no --redis flag).
        flags: extra command-line arguments. env: replaces the environment's TEMPEST_* vars.
        nofile, fsize: start it under that open-files limit (`ulimit -n`), that file-size
        limit in bytes (`ulimit -f`, which counts KiB)."""
        argv = [TEMPEST_BIN, "front"]
        if listen:
            argv += ["--listen", listen]
        if answer_listen:
            argv += ["--answer-listen", answer_listen]
        if redis is not None:
            argv += ["--redis", redis if isinstance(redis, str) else redis.url]
        argv += list(flags)
        process = _Process("front", argv, env=_front_env(env), stdout=subprocess.PIPE,
                           nofile=nofile, fsize=fsize)
        line = _read_line(process, timeout)
        if not line.startswith("ready "):
            process.kill()
            raise AssertionError(f"front printed {line!r} instead of a ready line; stderr:\n"
                                 f"{process.log()}")
        front = cls(process, cls._parse_ready_line(line))
        front._drain_stdout()
        return front

    @staticmethod
    def _parse_ready_line(line):
        fields = {}
        for token in line.split()[1:]:
            key, _, value = token.partition("=")
            fields[key] = value
        for key in ("http", "answer", "redis", "queue"):
            if key not in fields:
                raise AssertionError(f"ready line {line!r} lacks {key}=")
        return fields

    def _drain_stdout(self):
        # Anything printed after the ready line is kept, so the pipe never fills up.
        self.stdout_rest = []

        def drain(stream=self.process.proc.stdout):
            with stream:
                for chunk in iter(stream.readline, b""):
                    self.stdout_rest.append(chunk)

        threading.Thread(target=drain, daemon=True).start()

    # -- process control
    @property
    def pid(self):
        return self.process.pid

    def alive(self):
        return self.process.alive()

    def log(self):
        return self.process.log()

    def stop(self, signum=signal.SIGTERM, timeout=STOP_TIMEOUT):
        """SIGTERM and wait; returns the exit code."""
        return self.process.stop(signum, timeout)

    def send_signal(self, signum):
        self.process.send_signal(signum)

    def wait(self, timeout=STOP_TIMEOUT):
        """Waits for exit (kills and raises AssertionError on timeout); returns the exit code."""
        return self.process.wait(timeout)

    def kill(self):
        return self.process.kill()

    def processes(self):
        return [self.process]

    # -- answer endpoint
    def answer_client(self, index=0, password=None):
        """A redis-py client connected to the answer endpoint (index: front thread)."""
        return redis_py.Redis(host=LOOPBACK, port=self.answer_ports[index], password=password,
                              socket_timeout=5, socket_connect_timeout=2)

    def info(self, index=0, password=None):
        """The answer endpoint's INFO as a dict (counters as ints)."""
        with self.answer_client(index, password) as c:
            return c.info()

    def counter(self, name, index=0):
        return self.info(index)[name]

    def wait_counter(self, name, at_least, timeout=5.0):
        return wait_until(lambda: self.counter(name) >= at_least, timeout,
                          message=f"INFO {name} >= {at_least}")


def _front_env(extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEMPEST_")}
    env.update(extra or {})
    return env


def _read_line(process, timeout):
    """Reads one line from the process's stdout within timeout (raises AssertionError)."""
    stream = process.proc.stdout
    deadline = time.monotonic() + timeout
    data = b""
    fd = stream.fileno()
    while not data.endswith(b"\n"):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            process.kill()
            raise AssertionError(f"{process.name}: no line on stdout within {timeout}s; "
                                 f"stderr:\n{process.log()}")
        readable, _, _ = select.select([fd], [], [], remaining)
        if not readable:
            continue
        byte = os.read(fd, 1)  # byte by byte: nothing after the line is consumed
        if not byte:
            code = process.wait(timeout=STOP_TIMEOUT)
            raise AssertionError(f"{process.name} exited (code {code}) before printing a line; "
                                 f"stderr:\n{process.log()}")
        data += byte
    return data.decode("utf-8", "replace").rstrip("\r\n")


def run_tempest(*args, timeout=10.0, env=None):
    """Runs `build/tempest args...` to completion; returns CompletedProcess (text output)."""
    return subprocess.run([TEMPEST_BIN, *args], capture_output=True, text=True,
                          timeout=timeout, env=_front_env(env), stdin=subprocess.DEVNULL)


# ---------------------------------------------------------------------------------------------
# Example workers


class Worker:
    """`build/examples/<name> --redis URL --queue Q`."""

    def __init__(self, process):
        self.process = process

    @classmethod
    def start(cls, name, redis, queue="tempest", *flags, wait_ready=True):
        """redis: a RedisServer (then start() waits until the worker blocks on the queue) or a
        URL string. The wait is soft: a worker that pops jobs without blocking still passes."""
        url = redis if isinstance(redis, str) else redis.url
        argv = [os.path.join(BUILD_DIR, "examples", name), "--redis", url, "--queue", queue,
                *flags]
        before = _blocked_clients(redis) if wait_ready and not isinstance(redis, str) else None
        process = _Process(name, argv)
        worker = cls(process)
        if before is not None:
            try:
                wait_until(lambda: _blocked_clients(redis) > before or not process.alive(),
                           3.0, message=f"{name} to block on {queue}")
            except AssertionError:
                pass  # soft: see the docstring
        if not process.alive():
            raise AssertionError(f"{name} exited at start (code {process.proc.poll()}):\n"
                                 f"{process.log()}")
        return worker

    @property
    def pid(self):
        return self.process.pid

    def alive(self):
        return self.process.alive()

    def kill(self):
        return self.process.kill()

    def stop(self, timeout=STOP_TIMEOUT):
        return self.process.stop(signal.SIGTERM, timeout)

    def log(self):
        return self.process.log()

    def processes(self):
        return [self.process]


def _blocked_clients(redis):
    with redis.client() as c:
        return c.info("clients")["blocked_clients"]


# ---------------------------------------------------------------------------------------------
# A worker written in the test itself (for misbehaving-worker cases)


class Job:
    """One job as popped from the queue: ["url", [request], respond_to, job_id]."""

    def __init__(self, raw):
        self.raw = raw
        self.payload = json.loads(raw)
        self.action, args, self.respond_to, self.job_id = self.payload
        self.request = args[0] if args else None

    def answer_raw(self, json_text, action=None, password=None):
        """Sends `<action> <job_id> <json_text>` to respond_to; returns the reply
        (raises redis.ResponseError on -ERR)."""
        return answer(self.respond_to, self.job_id, json_text, action or self.action, password)

    def answer(self, value, **kwargs):
        return self.answer_raw(json.dumps(value), **kwargs)


def answer(respond_to, job_id, json_text, action="url", password=None):
    """One answer command over a fresh RESP connection to respond_to (host:port)."""
    host, port = split_host_port(respond_to)
    if host in ("0.0.0.0", "::", ""):
        host = LOOPBACK
    with redis_py.Redis(host=host, port=port, password=password, socket_timeout=5,
                        socket_connect_timeout=2) as c:
        return c.execute_command(action, str(job_id), json_text)


class FakeWorker:
    """Pops jobs from a queue with BLPOP, like a worker, so a test can answer them by hand."""

    def __init__(self, redis, queue="tempest", db=0):
        self.redis = redis
        self.queue = queue
        self.db = db

    def take_job(self, timeout=5):
        with self.redis.client(db=self.db) as c:
            item = c.blpop([self.queue], timeout=timeout)
        if item is None:
            raise AssertionError(f"no job on queue {self.queue!r} within {timeout}s")
        return Job(item[1])


# ---------------------------------------------------------------------------------------------
# A real HTTP client


def curl(*args, timeout=10.0):
    """Runs /usr/bin/curl -sS with args; returns CompletedProcess (bytes output)."""
    return subprocess.run([CURL_BIN, "-sS", "--max-time", str(timeout), *args],
                          capture_output=True, timeout=timeout + 5, stdin=subprocess.DEVNULL)


# ---------------------------------------------------------------------------------------------
# unittest glue


class TempestCase(unittest.TestCase):
    """A TestCase whose start_* helpers register cleanups, so processes never outlive a test
    (or the class, for the *_for_class variants), and whose failures print the stderr of the
    processes started for it."""

    _class_processes = []

    def run(self, result=None):
        result = result or self.defaultTestResult()
        failures_before = len(result.failures) + len(result.errors)
        self._processes = []
        outcome = super().run(result)
        if len(result.failures) + len(result.errors) > failures_before:
            self._print_logs(self._processes + type(self)._class_processes)
        return outcome

    @staticmethod
    def _print_logs(processes):
        for process in processes:
            log = process.log()[-4000:]
            if log.strip():
                sys.stderr.write(f"\n----- stderr of {process.name} (pid {process.pid}) -----\n"
                                 f"{log}\n")

    def _track(self, fixture):
        self._processes.extend(fixture.processes())
        return fixture

    def start_redis(self, **kwargs):
        redis = RedisServer.start(**kwargs)
        self.addCleanup(redis.stop)
        return self._track(redis)

    def start_front(self, redis=None, *flags, **kwargs):
        front = Front.start(redis, *flags, **kwargs)
        self.addCleanup(front.kill)
        return self._track(front)

    def start_worker(self, name, redis, queue="tempest", *flags, **kwargs):
        worker = Worker.start(name, redis, queue, *flags, **kwargs)
        self.addCleanup(worker.kill)
        return self._track(worker)

    @classmethod
    def start_redis_for_class(cls, **kwargs):
        redis = RedisServer.start(**kwargs)
        cls.addClassCleanup(redis.stop)
        cls._class_processes = cls._class_processes + redis.processes()
        return redis

    @classmethod
    def start_front_for_class(cls, redis=None, *flags, **kwargs):
        front = Front.start(redis, *flags, **kwargs)
        cls.addClassCleanup(front.kill)
        cls._class_processes = cls._class_processes + front.processes()
        return front

    @classmethod
    def start_worker_for_class(cls, name, redis, queue="tempest", *flags, **kwargs):
        worker = Worker.start(name, redis, queue, *flags, **kwargs)
        cls.addClassCleanup(worker.kill)
        cls._class_processes = cls._class_processes + worker.processes()
        return worker

    def assert_elapsed_between(self, start, low, high, what="request"):
        elapsed = time.monotonic() - start
        self.assertGreaterEqual(elapsed, low, f"{what} took {elapsed:.2f}s, expected >= {low}s")
        self.assertLessEqual(elapsed, high, f"{what} took {elapsed:.2f}s, expected <= {high}s")
        return elapsed

