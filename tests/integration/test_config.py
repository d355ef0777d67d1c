"""Configuration: flags, the TOML config file (--config, flags win), bad values, --help,
where Redis comes from (--redis, $TEMPEST_REDIS, unix socket, db number, embedded).
"""

import os
import shutil
import signal
import subprocess
import tempfile
import time

from support.harness import (BUILD_DIR, LOOPBACK, FakeWorker, HttpConnection, TempestCase,
                             http_request, port_accepts, run_tempest, split_host_port, wait_until)

TEMPEST_BIN = os.path.join(BUILD_DIR, "tempest")

FRONT_FLAGS = ("--listen", "--redis", "--queue", "--answer-listen", "--answer-password",
               "--timeout", "--max-body-size", "--max-header-size", "--max-answer-size",
               "--keepalive-timeout", "--header-timeout", "--shutdown-timeout", "--threads",
               "--log-level", "--config")


class HelpTest(TempestCase):

    def test_tempest_help_names_the_front_subcommand(self):
        result = run_tempest("--help")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("front", result.stdout)

    def test_front_help_lists_every_flag(self):
        result = run_tempest("front", "--help")
        self.assertEqual(result.returncode, 0, result.stderr)
        for flag in FRONT_FLAGS:
            with self.subTest(flag):
                self.assertIn(flag, result.stdout)


class BadValueTest(TempestCase):
    """A bad value exits non-zero, before listening, with one stderr line naming the key."""

    def assert_refused(self, args, key, config_text=None):
        if config_text is not None:
            args = list(args) + ["--config", self.write_config(config_text)]
        # --redis and --listen keep a wrongly accepted run from touching anything real.
        defaults = []
        for flag, value in (("--redis", f"redis://{LOOPBACK}:1"), ("--listen", f"{LOOPBACK}:0")):
            if flag not in args:
                defaults += [flag, value]
        result = run_tempest("front", *defaults, *args, timeout=5)
        self.assertNotEqual(result.returncode, 0, f"{args} was accepted")
        self.assertNotIn("ready", result.stdout)
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        self.assertEqual(len(lines), 1, f"{args}: stderr was {result.stderr!r}")
        self.assertIn(key, lines[0], f"{args}: stderr was {result.stderr!r}")
        return lines[0]

    def write_config(self, text):
        fd, path = tempfile.mkstemp(suffix=".toml")
        with os.fdopen(fd, "w") as f:
            f.write(text)
        self.addCleanup(os.unlink, path)
        return path

    def test_bad_flag_values(self):
        cases = [
            ("timeout", "abc"), ("timeout", "5parsecs"), ("timeout", "-1s"),
            ("keepalive-timeout", "x"), ("header-timeout", "1y"), ("shutdown-timeout", "?"),
            ("max-body-size", "12q"), ("max-header-size", "-5"), ("max-answer-size", "big"),
            ("threads", "zero"), ("threads", "0"), ("listen", "nohostport"),
            ("listen", "127.0.0.1:99999"), ("answer-listen", "127.0.0.1:http"),
            ("redis", "ftp://127.0.0.1:6379"), ("log-level", "loud"),
        ]
        for key, value in cases:
            with self.subTest(key=key, value=value):
                self.assert_refused([f"--{key}", value], key)

    def test_values_that_do_not_fit_are_refused(self):
        """Issue 7 item 9: 99999999999g wrapped to 0 (every POST got 413), 99999999999h made the
        deadline overflow (every request got 504 at once), redis://[::1 became [::]:6379."""
        durations = ("timeout", "keepalive-timeout", "header-timeout", "shutdown-timeout",
                     "sse-keepalive", "sse-retry")
        sizes = ("max-body-size", "max-header-size", "max-answer-size", "sse-max-queue")
        cases = [(key, "99999999999h", "too long") for key in durations]
        cases += [(key, "8761h", "too long") for key in durations]
        cases += [(key, "99999999999g", "too large") for key in sizes]
        cases += [(key, "18446744073709551616", "too large") for key in sizes]
        cases += [(key, "5g", "out of range") for key in sizes]
        cases += [("redis", "redis://[::1", "["), ("redis", "redis://[::1]x", "port")]
        for key, value, why in cases:
            with self.subTest(key=key, value=value):
                stderr = self.assert_refused([f"--{key}", value], key)
                self.assertIn(why, stderr)
        for key, value, why in (("timeout", '"99999999999h"', "too long"),
                                ("timeout", "99999999999999", "too long"),
                                ("max-body-size", '"99999999999g"', "too large")):
            with self.subTest(key=key, value=value, origin="config file"):
                stderr = self.assert_refused([], key, f"{key} = {value}\n")
                self.assertIn(why, stderr)

    def test_bad_config_file_values(self):
        self.assert_refused([], "timeout", 'timeout = "soon"\n')
        self.assert_refused([], "max-body-size", 'max-body-size = "lots"\n')

    def test_missing_config_file(self):
        result = run_tempest("front", "--config", "/nonexistent/tempest.toml", timeout=5)
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("/nonexistent/tempest.toml", result.stderr)

    def test_unknown_flag(self):
        result = run_tempest("front", "--no-such-flag", "1", timeout=5)
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("no-such-flag", result.stderr)

    def test_public_answer_listen_needs_a_password(self):
        self.assert_refused(["--answer-listen", "0.0.0.0:0"], "answer-password")


SUBCOMMANDS = (("front",), ("publish",), ("jobs",), ("jobs", "dead"), ("jobs", "retry"),
               ("angel",), ("status",))


class UsageErrorTest(TempestCase):
    """Issue 7 item 21: every usage error exits 2 with one stderr line naming the bad word (CLI11's
    own codes were 106 for an unknown subcommand, 109 for an unknown flag); --help exits 0."""

    def assert_usage_error(self, args, word):
        result = run_tempest(*args, timeout=5)
        self.assertEqual(result.returncode, 2, f"{args}: {result.stderr!r}")
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        self.assertEqual(len(lines), 1, f"{args}: stderr was {result.stderr!r}")
        self.assertIn(word, lines[0], f"{args}: stderr was {result.stderr!r}")
        self.assertEqual(result.stdout, "", args)
        return lines[0]

    def test_unknown_subcommand(self):
        line = self.assert_usage_error(["bogus"], "'bogus'")
        self.assertIn("unknown subcommand", line)
        self.assert_usage_error(["--bogus"], "--bogus")
        line = self.assert_usage_error([], "subcommand")
        self.assertIn("front", line)
        line = self.assert_usage_error(["jobs", "bogus"], "'bogus'")
        self.assertIn("tempest jobs:", line)
        self.assert_usage_error(["jobs"], "dead, retry")

    def test_unknown_flag_of_every_subcommand(self):
        for sub in SUBCOMMANDS:
            with self.subTest(sub=sub):
                line = self.assert_usage_error([*sub, "--bogus"], "--bogus")
                if sub != ("jobs",):
                    self.assertIn("tempest " + " ".join(sub) + ":", line)

    def test_unexpected_argument_and_bad_values(self):
        self.assert_usage_error(["status", "extra-word"], "extra-word")
        self.assert_usage_error(["jobs", "dead", "--queue"], "--queue")
        self.assert_usage_error(["status", "--redis", "nope://x"], "nope://x")

    def test_help_and_version_exit_0(self):
        for sub in ((),) + SUBCOMMANDS:
            with self.subTest(sub=sub):
                result = run_tempest(*sub, "--help", timeout=5)
                self.assertEqual(result.returncode, 0, result.stderr)
                self.assertIn("Usage", result.stdout)
        result = run_tempest("--version", timeout=5)
        self.assertEqual((result.returncode, result.stdout.strip()), (0, "tempest 0.1.0"))


class SignalsAtStartTest(TempestCase):
    """Issue 7 item 13: every Tempest program handles SIGTERM before anything else. `tempest front`
    is held inside reading its --config (a FIFO) when the SIGTERM comes: it stops with one line
    and exit status 128+15, instead of dying by the default action. Once running, SIGTERM still
    drains (the front's own handling takes over from main's)."""

    def test_sigterm_while_the_front_reads_its_config(self):
        directory = tempfile.mkdtemp(prefix="front-fifo-")
        fifo = os.path.join(directory, "tempest.toml")
        os.mkfifo(fifo)
        proc = subprocess.Popen([TEMPEST_BIN, "front", "--config", fifo, "--listen", f"{LOOPBACK}:0",
                                 "--redis", f"redis://{LOOPBACK}:1"],
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        self.addCleanup(proc.kill)

        def reader_opened():
            try:
                return os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            except OSError:
                return None
        fd = wait_until(reader_opened, 10.0, 0.005, message="the front opening its config")
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.2)
        try:
            os.write(fd, b'timeout = "1s"\n')
        except BrokenPipeError:
            pass  # the front is gone: its exit status says how
        os.close(fd)
        out, err = proc.communicate(timeout=10)
        self.assertEqual(proc.returncode, 128 + signal.SIGTERM, err)
        self.assertEqual(err.strip(), "tempest: SIGTERM: stopped")
        self.assertNotIn("ready", out)
        os.unlink(fifo)
        os.rmdir(directory)

    def test_sigterm_to_a_running_front_still_drains(self):
        redis = self.start_redis()
        front = self.start_front(redis, "--timeout", "5s")
        with HttpConnection(front.http_port) as conn:
            conn.request("GET", "/in-flight")
            job = FakeWorker(redis).take_job()
            front.send_signal(signal.SIGTERM)
            time.sleep(0.3)
            self.assertTrue(front.alive(), "the front did not wait for its request in flight")
            job.answer([200, {}, "drained"])
            self.assertEqual(conn.read_response().body, b"drained")
        self.assertEqual(front.wait(10), 0, front.log())

    def test_sighup_before_the_front_handles_it_is_logged_and_ignored(self):
        redis = self.start_redis()
        front = self.start_front(redis)
        front.send_signal(signal.SIGHUP)
        wait_until(lambda: "SIGHUP" in front.log(), 5.0, message="SIGHUP logged")
        self.assertTrue(front.alive(), "SIGHUP killed the front")
        self.assertEqual(front.stop(), 0)


class OtherProgramsRefuseWhatDoesNotFitTest(TempestCase):
    """The worker library, the angel and tempest publish parse durations, sizes and Redis URLs
    with the same code (src/core/duration.cpp, redis_url.cpp): each refuses what does not fit,
    exits non-zero and names the setting."""

    def write(self, name, text):
        directory = tempfile.mkdtemp(prefix="tempest-config-")
        self.addCleanup(shutil.rmtree, directory, True)
        path = os.path.join(directory, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def run_program(self, argv):
        return subprocess.run(argv, capture_output=True, text=True, timeout=10,
                              stdin=subprocess.DEVNULL)

    def test_worker_options(self):
        worker = os.path.join(BUILD_DIR, "examples", "hello_worker")
        for flag, value in (("--heartbeat-ttl", "99999999999h"), ("--redis", "redis://[::1"),
                            ("--redis", "[::1")):
            with self.subTest(flag=flag, value=value):
                argv = [worker, "--redis", f"redis://{LOOPBACK}:1", flag, value]
                result = self.run_program(argv)
                self.assertNotEqual(result.returncode, 0, result.stderr)
                self.assertIn(flag.lstrip("-"), result.stderr)
        path = self.write("worker.toml", 'heartbeat-ttl = "99999999999h"\n')
        result = self.run_program([worker, "--redis", f"redis://{LOOPBACK}:1", "--config", path])
        self.assertNotEqual(result.returncode, 0, result.stderr)
        self.assertIn("heartbeat-ttl", result.stderr)

    def test_angel_config(self):
        for key in ("backoff-min", "backoff-max", "crash-window", "stop-timeout", "reap-interval"):
            with self.subTest(key=key):
                path = self.write("angel.toml", f'{key} = "99999999999h"\n'
                                  '[programs.w]\ncommand = "sleep 100"\n')
                result = run_tempest("angel", "--redis", f"redis://{LOOPBACK}:1", "--config", path,
                                     timeout=10)
                self.assertNotEqual(result.returncode, 0, result.stderr)
                self.assertIn(key, result.stderr)
                self.assertIn("too long", result.stderr)
        procfile = self.write("Procfile", "w: sleep 100\n")
        result = run_tempest("angel", "--redis", "redis://[::1", procfile, timeout=10)
        self.assertEqual(result.returncode, 2, result.stderr)
        self.assertIn("[::1", result.stderr)

    def test_publish(self):
        for args, word in ((["--history-age", "99999999999h"], "--history-age"),
                           (["--redis", "redis://[::1"], "[::1")):
            with self.subTest(args=args):
                result = run_tempest("publish", "--redis", f"redis://{LOOPBACK}:1", *args,
                                     "news", "x", timeout=10)
                self.assertEqual(result.returncode, 2, result.stderr)
                self.assertIn(word, result.stderr)


class SettingsTablesTest(TempestCase):
    """Every program with a settings table prints its example config (the file under docs/) and
    refuses a value outside a row's bounds with exit 2 and one line naming the key and bounds."""

    DOCS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "docs")

    def run_program(self, argv):
        return subprocess.run(argv, capture_output=True, text=True, timeout=10,
                              stdin=subprocess.DEVNULL)

    def test_print_example_config_is_the_file_under_docs(self):
        worker = os.path.join(BUILD_DIR, "examples", "hello_worker")
        for argv, name in (([TEMPEST_BIN, "front"], "tempest.example.toml"),
                           ([TEMPEST_BIN, "angel"], "angel.example.toml"),
                           ([worker], "worker.example.toml")):
            with self.subTest(name=name):
                result = self.run_program(argv + ["--print-example-config"])
                self.assertEqual(result.returncode, 0, result.stderr)
                with open(os.path.join(self.DOCS, name)) as f:
                    self.assertEqual(result.stdout, f.read())

    def test_out_of_bounds_is_refused_with_the_bounds(self):
        worker = os.path.join(BUILD_DIR, "examples", "hello_worker")
        redis = f"redis://{LOOPBACK}:1"
        for argv, line in (([TEMPEST_BIN, "front", "--redis", redis, "--threads", "0"],
                            "--threads: '0' is out of range [1..256]"),
                           ([worker, "--redis", redis, "--concurrency", "2000"],
                            "--concurrency: '2000' is out of range [1..1024]")):
            with self.subTest(argv=argv[-2:]):
                result = self.run_program(argv)
                self.assertEqual(result.returncode, 2, result.stderr)
                self.assertEqual(len(result.stderr.strip().splitlines()), 1, result.stderr)
                self.assertIn(line, result.stderr)
                help_text = self.run_program(argv[:2 if argv[0] == TEMPEST_BIN else 1] + ["--help"])
                self.assertIn(line.split()[-1], help_text.stdout)


class ConfigFileTest(TempestCase):

    @classmethod
    def setUpClass(cls):
        cls.redis = cls.start_redis_for_class()

    def write_config(self, text):
        fd, path = tempfile.mkstemp(suffix=".toml")
        with os.fdopen(fd, "w") as f:
            f.write(text)
        self.addCleanup(os.unlink, path)
        return path

    def timed_504(self, front):
        start = time.monotonic()
        resp = http_request(front.http_port, "GET", "/no-worker", timeout=8)
        self.assertEqual(resp.status, 504, resp)
        return time.monotonic() - start

    def assert_serves_from_queue(self, front, queue):
        with HttpConnection(front.http_port) as conn:
            conn.request("GET", "/which-queue")
            FakeWorker(self.redis, queue).take_job().answer([200, {}, queue])
            self.assertEqual(conn.read_response().body, queue.encode())

    def test_config_file_is_honoured_and_flags_override_it(self):
        path = self.write_config('# a Tempest config\ntimeout = "1s"\nqueue = "other"\n')
        front = self.start_front(self.redis, "--config", path)
        self.assertEqual(front.queue, "other")
        self.assert_serves_from_queue(front, "other")
        self.assertLess(self.timed_504(front), 2.5)

        front = self.start_front(self.redis, "--config", path, "--queue", "flagq",
                                 "--timeout", "2s")
        self.assertEqual(front.queue, "flagq")
        self.assert_serves_from_queue(front, "flagq")
        elapsed = self.timed_504(front)
        self.assertGreater(elapsed, 1.8)
        self.assertLess(elapsed, 4.0)

    def test_config_file_sizes_and_integers(self):
        path = self.write_config('max-body-size = "1k"\nthreads = 2\ntimeout = "1s"\nspool-routes = ""\n')
        front = self.start_front(self.redis, "--config", path)
        self.assertEqual(len(front.answer_ports), 2, front.ready)
        resp = http_request(front.http_port, "POST", "/", body=b"x" * 2048)
        self.assertEqual(resp.status, 413, resp)

    def test_short_duration_units(self):
        front = self.start_front(self.redis, "--timeout", "500ms", "--max-body-size", "16k",
                                 "--spool-routes", "", "--queue", "units")
        elapsed = self.timed_504(front)
        self.assertLess(elapsed, 1.5)
        self.assertGreater(elapsed, 0.4)
        self.assertEqual(http_request(front.http_port, "POST", "/", body=b"x" * 17000).status,
                         413)
        with self.redis.client() as c:
            c.delete("units")


class RedisLocationTest(TempestCase):

    def test_redis_from_environment(self):
        redis = self.start_redis()
        front = self.start_front(None, "--timeout", "2s", env={"TEMPEST_REDIS": redis.url})
        self.assertEqual(front.redis_url.removesuffix("/0"), redis.url)
        self.start_worker("hello_worker", redis)
        self.assertEqual(http_request(front.http_port).body, b"Hello world!")

    def test_flag_beats_environment(self):
        redis = self.start_redis()
        front = self.start_front(redis, "--timeout", "2s",
                                 env={"TEMPEST_REDIS": f"redis://{LOOPBACK}:1"})
        self.assertEqual(front.redis_url.removesuffix("/0"), redis.url)
        self.start_worker("hello_worker", redis)
        self.assertEqual(http_request(front.http_port).status, 200)

    def test_redis_database_number(self):
        redis = self.start_redis()
        front = self.start_front(redis.url_db(3), "--timeout", "2s")
        with HttpConnection(front.http_port) as conn:
            conn.request("GET", "/db3")
            job = FakeWorker(redis, db=3).take_job()
            with redis.client() as c:
                self.assertEqual(c.llen("tempest"), 0, "job went to db 0")
            job.answer([200, {}, "db3"])
            self.assertEqual(conn.read_response().body, b"db3")

    def test_redis_over_unix_socket(self):
        redis = self.start_redis(unix_socket=True)
        front = self.start_front(redis.unix_url, "--timeout", "2s")
        with HttpConnection(front.http_port) as conn:
            conn.request("GET", "/unix")
            job = FakeWorker(redis).take_job()
            job.answer([200, {}, "unix"])
            self.assertEqual(conn.read_response().body, b"unix")

    def test_embedded_redis_when_none_is_given(self):
        front = self.start_front(None, "--timeout", "2s")
        host, port = split_host_port(front.redis_url.split("://", 1)[1].split("/", 1)[0])
        self.assertEqual(host, LOOPBACK)
        self.assertTrue(port_accepts(port), "embedded redis does not accept connections")
        self.start_worker("hello_worker", front.redis_url, wait_ready=False)
        wait_until(lambda: http_request(front.http_port, timeout=4).status == 200, timeout=8,
                   message="a 200 through the embedded redis")
        self.assertEqual(front.stop(), 0)
        wait_until(lambda: not port_accepts(port), timeout=5,
                   message="the embedded redis-server to stop with the front")
