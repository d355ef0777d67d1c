"""`tempest angel` and `tempest status` against a real redis-server and real children:
instances per program, a SIGKILLed child restarted with a new pid (the log says why), a crash
loop (growing delays, then failed, shown by status), the SIGTERM drain (children exit 0 within
the bound), a SIGHUP reload that applies only the difference, a Procfile, the reaper re-queueing a dead
worker's job, and the status
document (programs, pids, restarts, queue depths by priority, in-flight jobs, dead letters).
"""

import concurrent.futures
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

from support.harness import (BUILD_DIR, REPO_DIR, TempestCase, _Process, curl, free_port,
                             http_request, port_accepts, run_tempest, wait_until)

HELLO = os.path.join(BUILD_DIR, "examples", "hello_worker")
TEMPEST_BIN = os.path.join(BUILD_DIR, "tempest")


class Angel:
    """`tempest angel --redis URL (--config FILE | PROCFILE)`; its stderr is the log."""

    def __init__(self, redis, config_path, procfile=False, extra_env=None):
        argv = [TEMPEST_BIN, "angel", "--redis", redis.url]
        argv += [config_path] if procfile else ["--config", config_path]
        env = {k: v for k, v in os.environ.items() if not k.startswith("TEMPEST_")}
        env.update(extra_env or {})
        self.redis = redis
        self.process = _Process("angel", argv, env=env)

    def log(self):
        return self.process.log()

    def status(self, *queues):
        flags = ["--redis", self.redis.url, "--json"]
        for q in queues:
            flags += ["--queue", q]
        result = run_tempest("status", *flags)
        if result.returncode != 0:
            raise AssertionError(f"tempest status failed: {result.stderr}")
        return json.loads(result.stdout)

    def mine(self, *queues):
        """This angel's state document (raises when not published yet)."""
        doc = self.status(*queues)
        for a in doc["angels"]:
            if a["pid"] == self.process.pid:
                return a
        raise AssertionError("angel state not published")

    def instances(self, program):
        return self.mine()["programs"][program]["instances"]

    def running_pids(self, program, count):
        """Waits until count instances of program run; returns their pids by instance."""
        def ready():
            inst = self.instances(program)
            if len(inst) == count and all(i["state"] == "running" and i["pid"] for i in inst):
                return [i["pid"] for i in inst]
            return None
        return wait_until(ready, 10.0, 0.1, message=f"{count} running instances of {program}")

    def processes(self):
        return [self.process]


def signal_masks(pid):
    """(SigBlk, SigIgn) of a process, from /proc."""
    with open(f"/proc/{pid}/status") as f:
        fields = dict(line.split(":\t", 1) for line in f.read().splitlines() if ":\t" in line)
    return fields["SigBlk"].strip(), fields["SigIgn"].strip()


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is not alive
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


class AngelTest(TempestCase):

    @classmethod
    def setUpClass(cls):
        cls.redis = cls.start_redis_for_class()

    def setUp(self):
        self.client = self.redis.client()
        self.addCleanup(self.client.close)
        self.client.flushall()
        self.dir = tempfile.mkdtemp(prefix="angel-")

    def write(self, name, text):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def start_angel(self, config_path, procfile=False):
        angel = Angel(self.redis, config_path, procfile)
        self.addCleanup(self._stop_angel, angel)
        self._processes.append(angel.process)
        return angel

    @staticmethod
    def _stop_angel(angel):
        if angel.process.alive():
            angel.process.send_signal(signal.SIGTERM)
            try:
                angel.process.wait(15)
            except AssertionError:
                pass

    def hello_config(self, count=2, extra="", globals_=""):
        return self.write("angel.toml", f"""
backoff-min = "100ms"
stop-timeout = "5s"
{globals_}
[programs.hello]
command = "{HELLO} --queue q"
count = {count}
{extra}""")

    # -----------------------------------------------------------------------------------------

    def test_starts_instances_and_restarts_a_killed_one(self):
        angel = self.start_angel(self.hello_config(count=2))
        pids = angel.running_pids("hello", 2)
        # The children found Redis through TEMPEST_REDIS (no --redis on their command line).
        wait_until(lambda: self.client.info("clients")["blocked_clients"] >= 2, 5.0,
                   message="both workers blocked on q")
        os.kill(pids[1], signal.SIGKILL)
        new = wait_until(lambda: (p := angel.running_pids("hello", 2)) and p[1] != pids[1] and p,
                         10.0, 0.1, message="instance 1 restarted")
        self.assertEqual(new[0], pids[0])
        self.assertFalse(pid_alive(pids[1]))
        inst = angel.instances("hello")[1]
        self.assertEqual(inst["restarts"], 1)
        self.assertEqual(inst["last_exit"], "killed by signal 9 (SIGKILL)")
        self.assertRegex(angel.log(), rf"\[hello\.1 pid {pids[1]}\] exited: killed by signal 9 "
                                      r"\(SIGKILL\) after \d+ms; restart in 100ms")

    def test_crash_loop_backs_off_then_fails(self):
        path = self.write("angel.toml", """
backoff-min = "100ms"
crash-loop = 4
crash-window = "10s"
[programs.crash]
command = "sh -c 'exit 3'"
[programs.ok]
command = "sleep 60"
""")
        start = time.monotonic()
        angel = self.start_angel(path)
        wait_until(lambda: angel.instances("crash")[0]["state"] == "failed", 10.0, 0.1,
                   message="crash.0 failed")
        elapsed = time.monotonic() - start
        delays = [int(d) for d in re.findall(r"\[crash\.0 pid \d+\] exited: exit code 3 after \d+ms; "
                                             r"restart in (\d+)ms", angel.log())]
        self.assertEqual(delays, [100, 200, 400])
        self.assertGreaterEqual(elapsed, 0.7)
        self.assertIn("crash loop (4 exits within 10000ms): marked failed", angel.log())
        inst = angel.instances("crash")[0]
        self.assertEqual((inst["pid"], inst["restarts"], inst["last_exit"]), (0, 3, "exit code 3"))
        time.sleep(0.5)  # failed stays failed
        self.assertEqual(len(re.findall(r"\[crash\.0 pid \d+\] started", angel.log())), 4)
        self.assertEqual(angel.instances("ok")[0]["state"], "running")
        text = run_tempest("status", "--redis", self.redis.url).stdout
        self.assertRegex(text, r"crash\s+0\s+-\s+failed\s+3\s+exit code 3")

    def test_sigterm_drains_children_within_the_bound(self):
        angel = self.start_angel(self.hello_config(count=2))
        pids = angel.running_pids("hello", 2)
        # The drain under test is of serving workers (the angel's own start-up race is
        # test_sigterm_while_starting_is_a_clean_stop's).
        self.wait_serving(2)
        start = time.monotonic()
        angel.process.send_signal(signal.SIGTERM)
        self.assertEqual(angel.process.wait(10), 0)
        self.assertLess(time.monotonic() - start, 5.0)
        log = angel.log()
        for i, pid in enumerate(pids):
            self.assertIn(f"[hello.{i} pid {pid}] stopping: SIGTERM to its process group", log)
            self.assertRegex(log, rf"\[hello\.{i} pid {pid}\] exited: exit code 0 after \d+ms \(stopping\)")
            self.assertFalse(pid_alive(pid))
        self.assertEqual(self.client.keys("tempest:angel:*"), [])

    def test_sigterm_while_starting_is_a_clean_stop(self):
        """Issue 7 item 13: the angel handles signals before anything else. Its config is a FIFO,
        so the angel is held inside reading it when the SIGTERM comes; it must then stop cleanly
        (exit 0) without starting a child, not die by the default action."""
        fifo = os.path.join(self.dir, "angel.toml")
        os.mkfifo(fifo)
        angel = self.start_angel(fifo)

        def reader_opened():
            try:
                return os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            except OSError:  # ENXIO: the angel has not opened it yet
                return None
        fd = wait_until(reader_opened, 10.0, 0.005, message="the angel opening its config")
        angel.process.send_signal(signal.SIGTERM)
        time.sleep(0.2)  # let the signal land while the angel waits for the config's bytes
        try:
            with os.fdopen(fd, "w") as f:
                f.write(f'[programs.hello]\ncommand = "{HELLO} --queue q"\n')
        except BrokenPipeError:
            pass  # the angel is gone: its exit status says how
        self.assertEqual(angel.process.wait(10), 0, angel.log())
        self.assertIn("SIGTERM: draining", angel.log())
        self.assertNotIn("started:", angel.log())

    def test_by_default_a_crashing_program_is_never_given_up(self):
        """Issue 7 item 12: with no crash-loop setting the angel backs off (capped) and keeps
        trying; before, 5 exits within 10 s marked the instance failed for good."""
        path = self.write("angel.toml", """
backoff-min = "50ms"
backoff-max = "200ms"
[programs.crash]
command = "sh -c 'exit 3'"
""")
        angel = self.start_angel(path)
        pattern = r"\[crash\.0 pid \d+\] exited: exit code 3 after \d+ms; restart in (\d+)ms"
        wait_until(lambda: len(re.findall(pattern, angel.log())) >= 12, 15.0, 0.1,
                   message="12 restarts of crash.0")
        delays = [int(d) for d in re.findall(pattern, angel.log())]
        self.assertEqual(delays[:5], [50, 100, 200, 200, 200])
        self.assertEqual(set(delays[2:]), {200})
        self.assertNotIn("marked failed", angel.log())
        self.assertIn(angel.instances("crash")[0]["state"], ("backoff", "running"))

    def test_sigkill_from_outside_is_not_a_crash(self):
        """Issue 7 item 12: a worker SIGKILLed from outside again and again (a chaos loop, an
        operator) is restarted after backoff-min every time, with the default settings."""
        angel = self.start_angel(self.write("angel.toml", f"""
[programs.hello]
command = "{HELLO} --queue q"
"""))
        for n in range(8):
            [pid] = angel.running_pids("hello", 1)
            os.kill(pid, signal.SIGKILL)
            wait_until(lambda: angel.running_pids("hello", 1) != [pid], 10.0, 0.05,
                       message=f"hello.0 back after kill {n + 1}")
        log = angel.log()
        restarts = re.findall(r"\[hello\.0 pid \d+\] exited: killed by signal 9 \(SIGKILL\) after \d+ms; "
                              r"restart in (\d+)ms \(SIGKILL from outside: not counted as a crash\)", log)
        self.assertEqual(restarts, ["100"] * 8, log)
        self.assertNotIn("marked failed", log)
        self.assertEqual(angel.instances("hello")[0]["restarts"], 8)

    def test_a_missing_working_directory_is_named(self):
        """Issue 7 item 22: the error names the missing directory, not the program."""
        missing = os.path.join(self.dir, "clients", "python")
        path = self.write("angel.toml", f"""
[programs.python]
command = ["/usr/bin/python3", "worker.py"]
cwd = "{missing}"
[programs.tool]
command = ["{self.dir}/no-such-program"]
""")
        angel = self.start_angel(path)
        wait_until(lambda: "no-such-program" in angel.log() and "working directory" in angel.log(), 10.0,
                   message="both spawn errors logged")
        log = angel.log()
        self.assertIn(f"[python.0] working directory '{missing}' is missing (No such file or directory)", log)
        self.assertNotIn("cannot run '/usr/bin/python3'", log)
        self.assertIn(f"[tool.0] cannot run '{self.dir}/no-such-program': No such file or directory", log)

    def test_sigterm_kills_what_ignores_it_after_stop_timeout(self):
        marker = os.path.join(self.dir, "trapped")
        path = self.write("angel.toml", f"""
stop-timeout = "1s"
[programs.stubborn]
command = "sh -c 'trap \\"\\" TERM; touch {marker}; while :; do sleep 0.1; done'"
""")
        angel = self.start_angel(path)
        [pid] = angel.running_pids("stubborn", 1)
        wait_until(lambda: os.path.exists(marker), 5.0, message="the trap to be set")
        start = time.monotonic()
        angel.process.send_signal(signal.SIGTERM)
        self.assertEqual(angel.process.wait(10), 0)
        self.assert_elapsed_between(start, 0.9, 4.0, "drain")
        self.assertIn("still running 1000ms after SIGTERM: SIGKILL", angel.log())
        self.assertFalse(pid_alive(pid))

    def wait_serving(self, count):
        """Until count workers are blocked on q. "running" in the state means spawned; a worker
        SIGTERMed before it installed its signal handling (while still being loaded) dies by the
        default action, "killed by signal 15 after 16ms": the flake of issue 7 item 14. Tests
        that expect "exit code 0" from a stop wait for this first."""
        wait_until(lambda: self.client.info("clients")["blocked_clients"] >= count, 10.0,
                   message=f"{count} workers blocked on q")

    def test_sighup_applies_only_the_changes(self):
        path = self.hello_config(count=2)
        angel = self.start_angel(path)
        pids = angel.running_pids("hello", 2)
        self.wait_serving(2)
        self.hello_config(count=1, extra='[programs.sleeper]\ncommand = ["sleep", "60"]\n')
        angel.process.send_signal(signal.SIGHUP)
        wait_until(lambda: len(angel.instances("hello")) == 1 and not pid_alive(pids[1]), 10.0, 0.1,
                   message="hello.1 stopped")
        [sleeper] = angel.running_pids("sleeper", 1)
        self.assertEqual(angel.running_pids("hello", 1), [pids[0]])  # untouched
        self.assertEqual(angel.instances("hello")[0]["restarts"], 0)
        log = angel.log()
        self.assertIn("SIGHUP: reloaded", log)
        self.assertIn("1 added, 0 removed, 0 changed, 1 recounted", log)
        self.assertRegex(log, rf"\[hello\.1 pid {pids[1]}\] exited: exit code 0 after \d+ms \(stopping\)")
        self.assertTrue(pid_alive(sleeper))

    def test_sighup_with_a_broken_config_keeps_running(self):
        path = self.hello_config(count=1)
        angel = self.start_angel(path)
        pids = angel.running_pids("hello", 1)
        self.write("angel.toml", "[programs.hello]\ncount = 1\n")
        angel.process.send_signal(signal.SIGHUP)
        wait_until(lambda: "keeping the running config" in angel.log(), 5.0, message="reload refused")
        self.assertEqual(angel.running_pids("hello", 1), pids)

    def test_procfile(self):
        path = self.write("Procfile", f"# two programs\nhello: {HELLO} --queue q\nsleeper: sleep 60\n")
        angel = self.start_angel(path, procfile=True)
        angel.running_pids("hello", 1)
        angel.running_pids("sleeper", 1)
        self.assertEqual(angel.mine()["config"], path)

    def test_children_get_their_program_and_instance(self):
        out = os.path.join(self.dir, "env")
        path = self.write("angel.toml", f"""
[programs.envdump]
command = "sh -c 'echo $TEMPEST_PROGRAM.$TEMPEST_INSTANCE $TEMPEST_REDIS $GREETING > {out}.$TEMPEST_INSTANCE; exec sleep 60'"
count = 2
env = {{ GREETING = "hi" }}
cwd = "{self.dir}"
""")
        angel = self.start_angel(path)
        angel.running_pids("envdump", 2)
        for i in range(2):
            wait_until(lambda: os.path.exists(f"{out}.{i}") and os.path.getsize(f"{out}.{i}"), 5.0)
            with open(f"{out}.{i}") as f:
                self.assertEqual(f.read().strip(), f"envdump.{i} {self.redis.url} hi")

    def test_children_start_with_default_signals_and_an_empty_mask(self):
        """Issue 7 item 13: the angel blocks its signals and ignores SIGPIPE; its children must
        start with none of that (exec keeps a mask and ignored signals)."""
        path = self.write("angel.toml", '[programs.sleeper]\ncommand = ["sleep", "60"]\n')
        angel = self.start_angel(path)
        [pid] = angel.running_pids("sleeper", 1)
        self.assertNotEqual(signal_masks(angel.process.pid)[0], "0000000000000000")  # the angel's
        blocked, ignored = (int(m, 16) for m in signal_masks(pid))
        self.assertEqual(blocked, 0)
        # glibc's posix_spawn leaves its own two internal signals (32, 33: bits 31-32) ignored
        # in every child it starts; every other signal must be at its default.
        self.assertEqual(ignored & ~(0b11 << 31), 0, hex(ignored))

    def test_status_json_shows_queues_in_flight_and_dead_letters(self):
        angel = self.start_angel(self.hello_config(count=1, globals_=""))
        angel.running_pids("hello", 1)
        # Stop the worker from eating the jobs: a queue nobody takes from.
        self.client.rpush("jobs:high", "a")
        self.client.rpush("jobs", "b", "c", "d")
        self.client.rpush("jobs:low", "e", "f")
        self.client.rpush("jobs:dead", "x")
        self.client.rpush("tempest:processing:w1", "j1", "j2")
        self.client.rpush("tempest:processing:w2", "j3")
        doc = angel.status("jobs", "q")
        self.assertEqual(doc["queues"]["jobs"], {"high": 1, "normal": 3, "low": 2, "dead": 1})
        self.assertEqual(doc["queues"]["q"], {"high": 0, "normal": 0, "low": 0, "dead": 0})
        self.assertEqual(doc["in_flight"], {"total": 3, "workers": {"w1": 2, "w2": 1}})
        mine = [a for a in doc["angels"] if a["pid"] == angel.process.pid][0]
        self.assertEqual(mine["state"], "running")
        self.assertEqual(mine["programs"]["hello"]["count"], 1)
        self.assertEqual(mine["programs"]["hello"]["instances"][0]["restarts"], 0)
        ttl = self.client.pttl(f"tempest:angel:{mine['host']}:{angel.process.pid}")
        self.assertTrue(0 < ttl <= 3000, ttl)
        text = run_tempest("status", "--redis", self.redis.url, "--queue", "jobs").stdout
        self.assertRegex(text, r"jobs\s+1\s+3\s+2\s+1")
        self.assertIn("in flight: 3 (w1 2, w2 1)", text)

    def test_reaper_requeues_the_jobs_of_a_dead_worker(self):
        path = self.write("angel.toml", 'reap-interval = "200ms"\n[programs.sleeper]\ncommand = "sleep 60"\n')
        job = json.dumps(["url", [{"method": "GET", "path": "/"}], "127.0.0.1:1", "j1"])
        # A reliable worker that died: listed, holding one job, no heartbeat key.
        self.client.sadd("tempest:workers", "gone:1:0")
        self.client.rpush("tempest:processing:gone:1:0", f"other\nnormal\n{job}")
        angel = self.start_angel(path)
        wait_until(lambda: self.client.llen("other") == 1, 5.0, message="the job back on its list")
        self.assertEqual(self.client.lrange("other", 0, -1), [job.encode()])
        self.assertFalse(self.client.exists("tempest:processing:gone:1:0"))
        wait_until(lambda: "reaper: dead worker(s) gone:1:0: re-queued 1 job(s)" in angel.log(), 5.0)
        self.assertEqual(angel.mine()["reaper"], "running")

    def test_reaper_requeues_a_batch_in_order_on_its_priority_list(self):
        # The layout the take script writes: a header "\0<queue>\n<priority>", then the jobs.
        path = self.write("angel.toml", 'reap-interval = "200ms"\n[programs.sleeper]\ncommand = "sleep 60"\n')
        jobs = [json.dumps(["url", [{"method": "GET", "path": f"/{i}"}], "127.0.0.1:1", 10 + i]) for i in range(3)]
        self.client.rpush("other:high", "already-there")
        self.client.sadd("tempest:workers", "gone:2:0")
        self.client.rpush("tempest:processing:gone:2:0", "\0other\nhigh", *jobs)
        status = run_tempest("status", "--redis", self.redis.url, "--queue", "other", "--json")
        self.assertEqual(status.returncode, 0, status.stderr)
        doc = json.loads(status.stdout)
        self.assertEqual(doc["in_flight"], {"total": 3, "workers": {"gone:2:0": 3}})  # the header is no job
        angel = self.start_angel(path)
        wait_until(lambda: self.client.llen("other:high") == 4, 5.0, message="the jobs back on other:high")
        self.assertEqual(self.client.lrange("other:high", 0, -1), [j.encode() for j in jobs] + [b"already-there"])
        self.assertEqual(self.client.llen("other"), 0)
        self.assertFalse(self.client.exists("tempest:processing:gone:2:0"))
        wait_until(lambda: "re-queued 3 job(s)" in angel.log(), 5.0)

    def test_status_exit_codes(self):
        result = run_tempest("status", "--redis", "redis://127.0.0.1:1")
        self.assertEqual(result.returncode, 1)
        self.assertIn("cannot connect to Redis", result.stderr)
        result = run_tempest("status", "--redis", "nope://x")
        self.assertEqual(result.returncode, 2)

    def test_angel_usage_and_config_errors(self):
        result = run_tempest("angel")
        self.assertEqual(result.returncode, 2)
        self.assertIn("give one of --config FILE or PROCFILE", result.stderr)
        path = self.write("bad.toml", "[programs.w]\ncommand = \"x\"\ncount = \"two\"\n")
        result = run_tempest("angel", "--config", path)
        self.assertEqual(result.returncode, 1)
        self.assertIn("programs.w.count", result.stderr)



class ReadmeAngelTest(TempestCase):
    """Issue 7 item 18: the README's `tempest angel --config examples/angel.toml`, with no Redis
    anywhere: the angel starts an embedded Redis and gives it to the front and the workers; and
    (issue 9) its fleet mixes C++, Python, Node.js, Ruby and shell workers on one queue."""

    def test_the_readme_command_serves_with_no_redis_configured(self):
        with open(os.path.join(REPO_DIR, "examples", "angel.toml")) as f:
            text = f.read()
        port = free_port()
        self.assertIn("127.0.0.1:8080", text)
        text = (text.replace("127.0.0.1:8080", f"127.0.0.1:{port}").replace('"build/', f'"{BUILD_DIR}/')
                .replace('"clients/', f'"{REPO_DIR}/clients/').replace('"examples/', f'"{REPO_DIR}/examples/'))
        directory = tempfile.mkdtemp(prefix="readme-angel-")
        self.addCleanup(shutil.rmtree, directory, True)
        path = os.path.join(directory, "angel.toml")
        with open(path, "w") as f:
            f.write(text)
        env = {k: v for k, v in os.environ.items() if not k.startswith("TEMPEST_")}
        angel = _Process("angel", [TEMPEST_BIN, "angel", "--config", path], env=env)
        self._processes.append(angel)
        self.addCleanup(AngelTest._stop_angel, type("A", (), {"process": angel})())

        def served():
            result = curl("-o", "/dev/null", "-w", "%{http_code}", f"http://127.0.0.1:{port}/",
                          timeout=3)
            return result.stdout == b"200"
        wait_until(served, 30.0, 0.2, message="a curl getting 200 through the angel's programs")
        # The mixed fleet: a worker in each of five languages takes jobs from the one queue.
        # Requests go 8 at a time: one at a time, the shell worker's BLPOP on the list itself
        # would take every job the moment it is pushed, before a reliable worker's bell wakes it.
        seen = set()
        def one(_):
            resp = http_request(port, "GET", "/", timeout=10)
            return resp.header("x-worker") if resp.status == 200 else None
        def every_language_answered():
            with concurrent.futures.ThreadPoolExecutor(8) as pool:
                seen.update(filter(None, pool.map(one, range(16))))
            return {"c++", "python", "node", "ruby", "shell"} <= seen
        try:
            wait_until(every_language_answered, 60.0, 0.05,
                       message="an answer from each language of examples/angel.toml")
        except AssertionError as e:
            raise AssertionError(f"{e}; answered by {sorted(seen)}") from None
        match = re.search(r"started the embedded Redis at redis://127\.0\.0\.1:(\d+)/0 \(pid (\d+)\)",
                          angel.log())
        self.assertTrue(match, angel.log())
        redis_port, redis_pid = int(match.group(1)), int(match.group(2))
        # Started by the angel, whose own signals are blocked: it must not inherit that mask
        # (it would ignore the SIGTERM that stops it).
        # (What redis-server ignores itself, SIGHUP and SIGPIPE, is its own business.)
        self.assertEqual(signal_masks(redis_pid)[0], "0000000000000000")
        self.assertIn(f"children get TEMPEST_REDIS=redis://127.0.0.1:{redis_port}/0", angel.log())
        self.assertEqual(angel.stop(), 0, angel.log())
        self.assertFalse(port_accepts(redis_port), "the embedded Redis outlived the angel")


if __name__ == "__main__":
    import unittest
    unittest.main()
