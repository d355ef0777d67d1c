"""Uploads spooled by the front (docs/protocol.md section 11).

A body over --spool-threshold on a route that spools is written by the front to a file in
--spool-dir as it arrives; the job names the file ({"path", "size", "sha256"} in "body_file")
instead of carrying the body. The worker is the test (FakeWorker: it reads the job and the file)
or examples/stream_worker (which hashes the file), the client a raw socket or curl.
"""

import hashlib
import os
import shutil
import stat
import subprocess
import tempfile
import time

from support.harness import LOOPBACK, TEMPEST_BIN, FakeWorker, HttpConnection, TempestCase, curl, wait_until
from support.wire import build_request

QUEUE = "uploads"
THRESHOLD = 64 * 1024  # --spool-threshold of these fronts


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def spool_files(directory):
    return sorted(n for n in os.listdir(directory) if n.startswith("upload-"))


def temp_dir(case):
    """A directory removed after the test (or the class, given the class)."""
    d = tempfile.mkdtemp(prefix="tempest-uploads-")
    cleanup = case.addClassCleanup if isinstance(case, type) else case.addCleanup
    cleanup(shutil.rmtree, d, True)
    return d


def chunked(body, size=100_000):
    out = b""
    for i in range(0, len(body), size):
        part = body[i:i + size]
        out += b"%x\r\n" % len(part) + part + b"\r\n"
    return out + b"0\r\n\r\n"


class SpoolCase(TempestCase):
    flags = ()
    timeout = "10s"

    @classmethod
    def setUpClass(cls):
        cls.redis = cls.start_redis_for_class()
        cls.spool = os.path.join(temp_dir(cls), "spool")
        cls.front = cls.start_front_for_class(cls.redis, "--queue", QUEUE, "--timeout", cls.timeout,
                                              "--spool-threshold", str(THRESHOLD), "--spool-dir", cls.spool,
                                              "--max-upload-size", "32m", *cls.flags)
        cls.worker = FakeWorker(cls.redis, QUEUE)

    def setUp(self):
        wait_until(lambda: spool_files(self.spool) == [], 5, message="no spool file left by an earlier test")


class SpoolTest(SpoolCase):
    flags = ("--spool-routes", "/inline/=no,POST /=yes")

    def test_a_large_body_reaches_the_job_as_a_private_file_removed_once_answered(self):
        body = os.urandom(3 << 20)
        with HttpConnection(self.front.http_port) as client:
            client.request("POST", "/up", headers={"Content-Type": "application/octet-stream"}, body=body)
            job = self.worker.take_job()
            self.assertNotIn("body", job.request)
            token = job.request["body_file"]
            self.assertEqual(sorted(token), ["path", "sha256", "size"])
            self.assertEqual(token["size"], len(body))
            self.assertEqual(token["sha256"], hashlib.sha256(body).hexdigest())
            self.assertEqual(os.path.dirname(token["path"]), os.path.realpath(self.spool))
            self.assertRegex(os.path.basename(token["path"]), r"^upload-[0-9a-f]{32}$")
            self.assertEqual(stat.S_IMODE(os.stat(token["path"]).st_mode), 0o600)
            self.assertEqual(stat.S_IMODE(os.stat(self.spool).st_mode), 0o700)
            with open(token["path"], "rb") as f:
                self.assertEqual(f.read(), body)
            self.assertEqual(job.request["headers"]["content-length"], str(len(body)))
            job.answer([200, {}, "got it"])
            resp = client.read_response()
            self.assertEqual((resp.status, resp.body), (200, b"got it"))
        wait_until(lambda: not os.path.exists(token["path"]), 5, message="the spool file to be removed")

    def test_the_threshold_is_exact_and_a_chunked_body_is_spooled_once_it_passes_it(self):
        for size, spooled in ((THRESHOLD, False), (THRESHOLD + 1, True)):
            for framing in ("length", "chunked"):
                with self.subTest(size=size, framing=framing), HttpConnection(self.front.http_port) as client:
                    body = bytes(i % 256 for i in range(size))
                    if framing == "length":
                        client.request("POST", "/t", body=body)
                    else:
                        client.send(build_request("POST", "/t", {"Transfer-Encoding": "chunked"}, chunked(body)))
                    job = self.worker.take_job()
                    self.assertEqual("body_file" in job.request, spooled)
                    self.assertEqual("body" in job.request, not spooled)
                    if spooled:
                        with open(job.request["body_file"]["path"], "rb") as f:
                            self.assertEqual(f.read(), body)
                        self.assertEqual(job.request["body_file"]["size"], size)
                    job.answer([204, {}])
                    self.assertEqual(client.read_response().status, 204)

    def test_the_file_is_removed_when_the_client_leaves(self):
        with HttpConnection(self.front.http_port) as client:
            client.request("POST", "/leave", body=b"x" * (THRESHOLD * 2))
            job = self.worker.take_job()
            path = job.request["body_file"]["path"]
            self.assertTrue(os.path.exists(path))
        wait_until(lambda: not os.path.exists(path), 5, message="the spool file of a request whose client left")
        self.front.wait_counter("cancelled", 1)

    def test_an_aborted_upload_leaves_no_file_and_no_job(self):
        with HttpConnection(self.front.http_port) as client:
            client.send(build_request("POST", "/abort", {"Content-Length": str(10 << 20)}) + b"y" * (2 << 20))
            wait_until(lambda: len(spool_files(self.spool)) == 1, 5, message="the body being spooled")
        wait_until(lambda: spool_files(self.spool) == [], 5, message="the aborted upload's file to be removed")
        with self.redis.client() as c:
            self.assertEqual(c.llen(QUEUE), 0)

    def test_a_declared_length_over_max_upload_size_gets_413_before_any_body(self):
        with HttpConnection(self.front.http_port) as client:
            client.send(build_request("POST", "/big", {"Content-Length": str((32 << 20) + 1),
                                                       "Expect": "100-continue"}))
            resp = client.read_response(skip_interim=False)
            self.assertEqual(resp.status, 413)
            self.assertEqual(resp.interim, [])
        self.assertEqual(spool_files(self.spool), [])
        # Exactly the limit passes (streamed by curl from a file: it is not held in memory).
        with tempfile.NamedTemporaryFile(dir=temp_dir(self)) as f:
            f.truncate(32 << 20)
            f.flush()
            proc = subprocess.Popen(["curl", "-sS", "--max-time", "20", "-o", "/dev/null", "-w", "%{http_code}",
                                     "-X", "POST", "-T", f.name, f"http://{LOOPBACK}:{self.front.http_port}/limit"],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            job = self.worker.take_job(timeout=15)
            self.assertEqual(job.request["body_file"]["size"], 32 << 20)
            job.answer([201, {}, ""])
            out, err = proc.communicate(timeout=20)
            self.assertEqual(out, b"201", err)
        wait_until(lambda: spool_files(self.spool) == [], 5, message="the file to be removed")

    def test_a_chunked_body_over_max_upload_size_gets_413_and_leaves_no_file(self):
        with HttpConnection(self.front.http_port, timeout=20) as client:
            client.send(build_request("POST", "/big", {"Transfer-Encoding": "chunked"}))
            block = b"%x\r\n" % (1 << 20) + b"z" * (1 << 20) + b"\r\n"
            try:
                for _ in range(40):
                    client.send(block)
            except OSError:
                pass  # the front answered and closed while we were still sending
            self.assertEqual(client.read_response().status, 413)
        wait_until(lambda: spool_files(self.spool) == [], 5, message="no file left")

    def test_a_route_that_does_not_spool_keeps_the_body_inline_up_to_max_body_size(self):
        body = b"i" * (THRESHOLD * 4)
        with HttpConnection(self.front.http_port) as client:
            client.request("POST", "/inline/a", body=body)
            job = self.worker.take_job()
            self.assertEqual(job.request["body"], body.decode())
            self.assertNotIn("body_file", job.request)
            job.answer([200, {}, "inline"])
            self.assertEqual(client.read_response().status, 200)
        with HttpConnection(self.front.http_port) as client:
            client.send(build_request("POST", "/inline/b", {"Content-Length": str((1 << 20) + 1)}))
            self.assertEqual(client.read_response().status, 413)
        # A method the rules do not name stays inline too.
        with HttpConnection(self.front.http_port) as client:
            client.request("PUT", "/x", body=body)
            job = self.worker.take_job()
            self.assertIn("body", job.request)
            job.answer([200, {}, ""])
            self.assertEqual(client.read_response().status, 200)


class SpoolTimeoutTest(SpoolCase):
    flags = ("--header-timeout", "500ms")
    timeout = "600ms"

    def test_the_file_is_removed_when_the_request_times_out(self):
        with HttpConnection(self.front.http_port) as client:
            client.request("POST", "/slow", body=b"s" * (THRESHOLD * 2))
            job = self.worker.take_job()
            path = job.request["body_file"]["path"]
            self.assertTrue(os.path.exists(path))
            self.assertEqual(client.read_response().status, 504)
        wait_until(lambda: not os.path.exists(path), 5, message="the timed-out request's file to be removed")

    def test_a_spooled_body_needs_progress_not_to_arrive_within_the_header_timeout(self):
        # 1.2 s of sending, in steps under the 500 ms limit: the body is not cut.
        body = b"p" * (THRESHOLD * 6)
        step = len(body) // 6
        with HttpConnection(self.front.http_port, timeout=10) as client:
            client.send(build_request("POST", "/progress", {"Content-Length": str(len(body))}))
            for i in range(6):
                client.send(body[i * step:(i + 1) * step])
                time.sleep(0.2)
            job = self.worker.take_job()
            self.assertEqual(job.request["body_file"]["size"], len(body))
            job.answer([200, {}, ""])
            self.assertEqual(client.read_response().status, 200)
        # A body that stops moving gets 408 and leaves no file.
        with HttpConnection(self.front.http_port, timeout=10) as client:
            client.send(build_request("POST", "/stall", {"Content-Length": str(len(body))}) + body[:step * 2])
            self.assertEqual(client.read_response().status, 408)
        wait_until(lambda: spool_files(self.spool) == [], 5, message="the stalled upload's file to be removed")


class SpoolDirTest(TempestCase):
    """What the front does with its spool directory: created private, leftovers removed at
    start, one front per directory, and a 507 (the front keeps serving) when it cannot be used."""

    def setUp(self):
        self.redis = self.start_redis()
        self.base = temp_dir(self)

    def front(self, *flags, **kwargs):
        return self.start_front(self.redis, "--queue", QUEUE, "--spool-threshold", "1k", *flags, **kwargs)

    def post(self, front, size):
        with HttpConnection(front.http_port) as client:
            client.request("POST", "/p", body=b"b" * size)
            if size > 1024:
                return client.read_response().status
            job = FakeWorker(self.redis, QUEUE).take_job()
            job.answer([200, {}, "small"])
            return client.read_response().status

    def test_the_default_dir_is_private_per_user_and_port_under_tmpdir(self):
        front = self.front(env={"TMPDIR": self.base})
        expected = os.path.join(self.base, f"tempest-spool-{os.geteuid()}-{front.http_port}")
        self.assertTrue(os.path.isdir(expected), os.listdir(self.base))
        self.assertEqual(stat.S_IMODE(os.stat(expected).st_mode), 0o700)
        with HttpConnection(front.http_port) as client:
            client.request("POST", "/d", body=b"d" * 5000)
            job = FakeWorker(self.redis, QUEUE).take_job()
            self.assertEqual(os.path.dirname(job.request["body_file"]["path"]), expected)
            job.answer([200, {}, ""])
            self.assertEqual(client.read_response().status, 200)

    def test_leftovers_of_an_earlier_run_are_removed_at_start_and_other_files_kept(self):
        spool = os.path.join(self.base, "spool")
        os.mkdir(spool, 0o700)
        left = os.path.join(spool, "upload-" + "0123456789abcdef" * 2)
        mine = os.path.join(spool, "notes.txt")
        for p in (left, mine):
            with open(p, "w") as f:
                f.write("x")
        front = self.front("--spool-dir", spool)
        self.assertFalse(os.path.exists(left))
        self.assertTrue(os.path.exists(mine))
        self.assertIn("removed 1 file(s) left by an earlier run", front.log())

    def test_an_unusable_dir_gives_507_for_large_bodies_and_the_front_keeps_serving(self):
        not_a_dir = os.path.join(self.base, "file")
        open(not_a_dir, "w").close()
        shared = os.path.join(self.base, "open")
        os.mkdir(shared)
        os.chmod(shared, 0o777)
        for spool, why in ((os.path.join(not_a_dir, "spool"), "cannot create it: Not a directory"),
                           (shared, "others may write in it (mode 777)")):
            with self.subTest(why=why):
                front = self.front("--spool-dir", spool)
                self.assertEqual(self.post(front, 5000), 507)
                self.assertEqual(self.post(front, 100), 200)  # inline bodies still work
                # Chunked, so the front finds out only when the body passes the threshold.
                with HttpConnection(front.http_port) as client:
                    client.send(build_request("POST", "/c", {"Transfer-Encoding": "chunked"}, chunked(b"c" * 5000, 1000)))
                    resp = client.read_response()
                self.assertEqual(resp.status, 507)
                self.assertEqual(resp.body, b"insufficient storage: the request body could not be stored\n")
                self.assertTrue(front.alive())
                self.assertIn(why, front.log())
                self.assertIn("507: cannot spool", front.log())

    def test_two_fronts_cannot_share_a_dir(self):
        spool = os.path.join(self.base, "spool")
        first = self.front("--spool-dir", spool)
        second = self.front("--spool-dir", spool)
        self.assertIn("another running front uses it", second.log())
        self.assertEqual(self.post(second, 5000), 507)
        with HttpConnection(first.http_port) as client:
            client.request("POST", "/p", body=b"f" * 5000)
            job = FakeWorker(self.redis, QUEUE).take_job()
            self.assertTrue(os.path.exists(job.request["body_file"]["path"]))
            job.answer([200, {}, ""])
            self.assertEqual(client.read_response().status, 200)

    def test_a_write_that_fails_mid_body_gives_507_and_removes_the_file(self):
        # ulimit -f: writes past 2 MiB fail with EFBIG, as on a full disk.
        spool = os.path.join(self.base, "spool")
        front = self.front("--spool-dir", spool, fsize=2 << 20)
        self.assertEqual(self.post(front, 3 << 20), 507)
        self.assertIn("File too large", front.log())
        wait_until(lambda: spool_files(spool) == [], 5, message="the failed file to be removed")
        self.assertEqual(self.post(front, 100), 200)
        self.assertTrue(front.alive())

    def test_max_body_size_caps_the_threshold(self):
        # --max-body-size 2k with the default 1m threshold: bodies over 2k are spooled.
        front = self.start_front(self.redis, "--queue", QUEUE, "--max-body-size", "2k",
                                 "--spool-dir", os.path.join(self.base, "spool"))
        with HttpConnection(front.http_port) as client:
            client.request("POST", "/cap", body=b"m" * 3000)
            job = FakeWorker(self.redis, QUEUE).take_job()
            self.assertEqual(job.request["body_file"]["size"], 3000)
            job.answer([200, {}, ""])
            self.assertEqual(client.read_response().status, 200)


class StreamWorkerUploadTest(TempestCase):
    """examples/stream_worker hashes the spooled file; the client is curl."""

    @classmethod
    def setUpClass(cls):
        cls.redis = cls.start_redis_for_class()
        cls.spool = os.path.join(temp_dir(cls), "spool")
        cls.front = cls.start_front_for_class(cls.redis, "--queue", QUEUE, "--timeout", "60s",
                                              "--spool-dir", cls.spool, "--max-upload-size", "3g")
        cls.worker = cls.start_worker_for_class("stream_worker", cls.redis, QUEUE)

    def url(self, target):
        return f"http://{LOOPBACK}:{self.front.http_port}{target}"

    def write_file(self, size):
        """A file of `size` bytes (a random MiB repeated) and its sha256sum."""
        f = tempfile.NamedTemporaryFile(dir=temp_dir(self), delete=False)
        block = os.urandom(1 << 20)
        with f:
            for _ in range(size >> 20):
                f.write(block)
            f.write(block[:size & ((1 << 20) - 1)])
        out = subprocess.run(["sha256sum", f.name], capture_output=True, check=True, timeout=120).stdout
        return f.name, out.split()[0].decode()

    def test_curl_data_binary_from_a_file(self):
        path, digest = self.write_file((48 << 20) + 7)
        r = curl("--data-binary", f"@{path}", self.url("/upload"), timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.decode().strip(), digest)
        # A body under the threshold arrives inline and gets the same answer.
        r = curl("--data-binary", "small body", self.url("/upload"))
        self.assertEqual(r.stdout.decode().strip(), hashlib.sha256(b"small body").hexdigest())

    def test_a_two_gigabyte_upload_in_bounded_memory(self):
        # curl --data-binary @file reads the file into memory first and stops at 1 GiB (curl's
        # own limit); -T streams it from disk.
        size = 2 << 30
        path, digest = self.write_file(size)
        before = rss_kb(self.front.pid)
        proc = subprocess.Popen(["curl", "-sS", "--max-time", "300", "-X", "POST", "-T", path, self.url("/upload")],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        peak = before
        while proc.poll() is None:
            peak = max(peak, rss_kb(self.front.pid))
            time.sleep(0.05)
        out, err = proc.communicate()
        self.assertEqual(proc.returncode, 0, err)
        self.assertEqual(out.decode().strip(), digest)
        self.assertLess(peak, 64 * 1024, f"front RSS peaked at {peak} KiB (before: {before} KiB)")
        wait_until(lambda: spool_files(self.spool) == [], 5, message="the file to be removed once answered")
