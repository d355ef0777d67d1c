"""What the README promises a new user, run as written: the Python worker snippet (taken out of
README.md, so the file and the test cannot drift apart) with /usr/bin/python3, and `./run demo`
(its banner: in one piece, after the workers are up, with the export TEMPEST_REDIS line).
"""

import os
import re
import signal
import socket
import subprocess
import tempfile
import threading
import time

from support.harness import (BUILD_DIR, LOOPBACK, REPO_DIR, TempestCase, _Process,
                             http_request, wait_until)

README = os.path.join(REPO_DIR, "README.md")


def readme_python_snippet():
    """The ```python block of the README's "A worker in Python by hand" section."""
    with open(README) as f:
        text = f.read()
    section = text.split("## A worker in Python by hand", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "no python block in the README's Python worker section"
    return match.group(1)


class RecordingAnswerEndpoint:
    """A RESP server standing in for a front's answer endpoint: +OK to every command, records the
    job ids of `url` commands in arrival order."""

    def __init__(self):
        self.sock = socket.create_server((LOOPBACK, 0))
        self.port = self.sock.getsockname()[1]
        self.ids = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve_one, args=(conn,), daemon=True).start()

    def _serve_one(self, conn):
        reader = conn.makefile("rb")
        try:
            while True:
                line = reader.readline()
                if not line.startswith(b"*"):
                    return
                args = []
                for _ in range(int(line[1:])):
                    size = int(reader.readline()[1:])
                    args.append(reader.read(size + 2)[:-2])
                if args and args[0].lower() == b"url":
                    self.ids.append(int(args[1]))
                conn.sendall(b"+OK\r\n")
        except (OSError, ValueError):
            return
        finally:
            conn.close()

    def close(self):
        self.sock.close()


class ReadmePythonWorkerTest(TempestCase):

    def start_snippet(self, redis_url):
        fd, path = tempfile.mkstemp(suffix=".py", prefix="readme-worker-")
        with os.fdopen(fd, "w") as f:
            f.write(readme_python_snippet())
        self.addCleanup(os.unlink, path)
        env = dict(os.environ, TEMPEST_REDIS=redis_url)
        process = _Process("readme-worker", ["/usr/bin/python3", path], env=env)
        self.addCleanup(process.kill)
        self._processes.append(process)  # its stderr is printed if the test fails
        return process

    def test_the_snippet_answers_through_a_real_front(self):
        redis = self.start_redis()
        front = self.start_front(redis, "--timeout", "20s")
        self.start_snippet(redis.url)
        resp = http_request(front.http_port, "GET", "/from-readme", timeout=25)
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual(resp.body, b"Hello /from-readme")
        self.assertEqual(resp.header("content-type"), "text/plain")

    def test_the_snippet_takes_the_priority_lists_highest_first(self):
        """Issue 7 item 19: the snippet BLPOPed only the normal list."""
        redis = self.start_redis()
        endpoint = RecordingAnswerEndpoint()
        self.addCleanup(endpoint.close)
        respond_to = f"{LOOPBACK}:{endpoint.port}"

        def job(job_id):
            return '["url",[{"method":"GET","url":"/%d","path":"/%d","headers":{},"body":""}],"%s",%d]' % (
                job_id, job_id, respond_to, job_id)

        with redis.client() as c:  # queued before the worker starts: it finds all three lists full
            c.rpush("tempest:low", job(1), job(2))
            c.rpush("tempest", job(3), job(4))
            c.rpush("tempest:high", job(5), job(6))
        self.start_snippet(redis.url)
        wait_until(lambda: len(endpoint.ids) == 6, timeout=15, message="six answers from the snippet")
        self.assertEqual(endpoint.ids, [5, 6, 3, 4, 1, 2])


class DemoTest(TempestCase):

    def test_demo_banner_in_one_piece_after_the_workers_with_the_export_line(self):
        """Issue 7 items 19 and 22: ./run demo's banner, with every output line of the demo
        (its stdout and stderr, the front's and the workers' logs) in one stream."""
        env = dict(os.environ, NO_BUILD="1", BUILD_DIR=BUILD_DIR, DEMO_LISTEN=f"{LOOPBACK}:0")
        proc = subprocess.Popen(["/bin/bash", os.path.join(REPO_DIR, "run"), "demo"], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, text=True)
        self.addCleanup(self._stop_demo, proc)
        lines = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line.rstrip("\n"))
            if line.startswith("Ctrl-C stops everything"):
                break
        self.assertTrue(lines and lines[-1].startswith("Ctrl-C"), "\n".join(lines))
        start = lines.index("Tempest demo is running:")
        banner = lines[start:]
        log_line = re.compile(r"^\d{4}-\d\d-\d\dT")
        self.assertEqual([b for b in banner if log_line.match(b)], [], "\n".join(lines))
        self.assertFalse(any("worker" in b and "taking jobs" in b for b in lines), "\n".join(lines))
        exports = [b.strip() for b in banner if b.strip().startswith("export TEMPEST_REDIS=")]
        self.assertEqual(len(exports), 1, "\n".join(banner))
        redis_url = exports[0].split("=", 1)[1]
        self.assertRegex(redis_url, r"^redis://127\.0\.0\.1:\d+/0$")
        # The workers were up when the banner came out: their start lines are in their logs.
        logs = re.search(r"logs in (\S+)/worker-1\.log", "\n".join(banner))
        self.assertIsNotNone(logs, "\n".join(banner))
        for i in (1, 2):
            with open(os.path.join(logs.group(1), f"worker-{i}.log")) as f:
                self.assertIn("taking jobs", f.read())
        http = re.search(r"front\s+http://(\S+)/", "\n".join(banner)).group(1)
        port = int(http.rsplit(":", 1)[1])
        self.assertEqual(http_request(port, "GET", "/", timeout=10).body, b"Hello world!")
        # and the export line names the embedded Redis the front started (its log line)
        self.assertIn(f"started the embedded Redis at {redis_url}", "\n".join(lines[:start]))

    @staticmethod
    def _stop_demo(proc):
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        proc.stdout.close()
