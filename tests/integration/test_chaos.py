"""Chaos: things breaking while the service is under load, with real processes only.

- WorkersKilledUnderLoad: a real redis-server, the real front and `tempest angel` with its
  default settings supervising 3 reliable echo_workers (heartbeat TTL 600 ms). 10,000 GET
  requests (unique URLs, 50 keep-alive connections, paced at 1,000 req/s so that the load
  lasts 10 s) while a random worker is SIGKILLed every 200 ms. Every request must get exactly
  one 200 carrying its own URL: nothing lost, no 5xx. The latency p50/p99 is printed next to a
  short baseline run without kills, so what the kills add is visible.
- RedisRestartUnderLoad: the front and 2 workers under a steady load (20 client threads);
  redis-server is stopped (SIGTERM) for 2 s, then started again, empty, on the same port.
  Nothing may crash; during the outage requests get a quick 503 (never a hang), a 504 only for
  a request whose job was in Redis when it went down; service comes back by itself (the recovery
  time, from redis-server answering PING to the first 200, is printed).

echo_worker (it echoes the URL) is used instead of hello_worker so that each answer can be
matched to its request. Numbers go to stderr (visible with -v and in CTest's output).
"""

import http.client
import json
import os
import random
import re
import shutil
import signal
import sys
import tempfile
import threading
import time

from support.harness import (BUILD_DIR, LOOPBACK, TempestCase, _Process, run_tempest,
                             wait_until)

WORKER = "echo_worker"
WORKER_BIN = os.path.join(BUILD_DIR, "examples", WORKER)
TEMPEST_BIN = os.path.join(BUILD_DIR, "tempest")


def report(text):
    sys.stderr.write(f"\n    [chaos] {text}")
    sys.stderr.flush()


# ---------------------------------------------------------------------------------------------
# A load generator: Python threads, one keep-alive http.client connection each


class Outcome:
    __slots__ = ("url", "start", "end", "status", "body", "error")

    def __init__(self, url, start, end, status, body, error):
        self.url, self.start, self.end = url, start, end
        self.status, self.body, self.error = status, body, error

    @property
    def latency(self):
        return self.end - self.start

    def echoed_url(self):
        try:
            return json.loads(self.body)["url"]
        except (ValueError, KeyError, TypeError):
            return None

    def __repr__(self):
        return (f"<{self.url} status={self.status} {self.latency * 1000:.1f}ms "
                f"error={self.error} body={self.body[:120]!r}>")


class Client:
    """One keep-alive connection. A request is sent once, never retried (a retry would hide a
    lost request); a broken connection is recorded as an error and reopened for the next one."""

    def __init__(self, port, timeout):
        self.conn = http.client.HTTPConnection(LOOPBACK, port, timeout=timeout)

    def get(self, url):
        start = time.monotonic()
        try:
            self.conn.request("GET", url)
            resp = self.conn.getresponse()
            body = resp.read()
            return Outcome(url, start, time.monotonic(), resp.status, body, None)
        except (OSError, http.client.HTTPException) as e:
            self.conn.close()
            return Outcome(url, start, time.monotonic(), None, b"", repr(e))

    def close(self):
        self.conn.close()


def fire(port, urls, concurrency, timeout, rate=None):
    """GETs every URL once over `concurrency` keep-alive connections; returns (outcomes,
    elapsed seconds). Each thread takes the next URL when its previous request is answered;
    with `rate` (requests/s), URL number i is not sent before start + i / rate, so the load
    lasts len(urls) / rate seconds whatever the machine's speed. Latency counts from the send."""
    todo = iter(enumerate(urls))
    lock = threading.Lock()
    outcomes = []
    start = time.monotonic()

    def run():
        client = Client(port, timeout)
        try:
            while True:
                with lock:
                    i, url = next(todo, (None, None))
                if url is None:
                    return
                if rate:
                    delay = start + i / rate - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
                outcomes.append(client.get(url))
        finally:
            client.close()

    threads = [threading.Thread(target=run, daemon=True) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout + len(urls) / (rate or 1000) + 60)
    if any(t.is_alive() for t in threads):
        raise AssertionError("a load thread is still running: a request hangs")
    return outcomes, time.monotonic() - start


def percentile(values, p):
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, int(round(p / 100.0 * len(ordered) + 0.5)) - 1))
    return ordered[index]


def latency_line(name, outcomes, elapsed):
    ms = [o.latency * 1000 for o in outcomes]
    return (f"{name}: {len(outcomes)} requests in {elapsed:.2f}s ({len(outcomes) / elapsed:.0f} req/s), "
            f"p50 {percentile(ms, 50):.2f} ms, p99 {percentile(ms, 99):.2f} ms, "
            f"p99.9 {percentile(ms, 99.9):.2f} ms, max {max(ms):.2f} ms")


# ---------------------------------------------------------------------------------------------
# The angel (same shape as in test_angel.py)


class Angel:
    def __init__(self, redis, config_path):
        env = {k: v for k, v in os.environ.items() if not k.startswith("TEMPEST_")}
        self.redis = redis
        self.process = _Process("angel", [TEMPEST_BIN, "angel", "--redis", redis.url,
                                          "--config", config_path], env=env)

    @property
    def pid(self):
        return self.process.pid

    def mine(self):
        result = run_tempest("status", "--redis", self.redis.url, "--json")
        if result.returncode != 0:
            raise AssertionError(f"tempest status failed: {result.stderr}")
        for a in json.loads(result.stdout)["angels"]:
            if a["pid"] == self.pid:
                return a
        raise AssertionError("angel state not published")

    def running_pids(self, program, count, timeout=10.0):
        def ready():
            inst = self.mine()["programs"][program]["instances"]
            if len(inst) == count and all(i["state"] == "running" and i["pid"] for i in inst):
                return [i["pid"] for i in inst]
            return None
        return wait_until(ready, timeout, 0.1, message=f"{count} running instances of {program}")

    def worker_children(self):
        """Live children of the angel that are workers, straight from /proc (no Redis)."""
        pids = []
        try:
            for task in os.listdir(f"/proc/{self.pid}/task"):
                with open(f"/proc/{self.pid}/task/{task}/children") as f:
                    pids += [int(p) for p in f.read().split()]
        except OSError:
            return []
        live = []
        for pid in pids:
            try:
                with open(f"/proc/{pid}/stat") as f:
                    stat = f.read()
            except OSError:
                continue
            comm = stat[stat.index("(") + 1:stat.rindex(")")]
            state = stat[stat.rindex(")") + 2:].split()[0]
            if comm == WORKER[:15] and state not in ("Z", "X"):
                live.append(pid)
        return live

    def stop(self):
        if self.process.alive():
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except AssertionError:
                pass
        self.process.kill()


class Killer:
    """Every `interval` seconds, SIGKILLs one live worker child of the angel, chosen at random."""

    def __init__(self, angel, interval, seed):
        self.angel = angel
        self.interval = interval
        self.random = random.Random(seed)
        self.kills = []        # (monotonic time, pid)
        self.empty_ticks = 0   # ticks that found no live worker (all restarting)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        self._thread.join(5)

    def _run(self):
        next_tick = time.monotonic() + self.interval
        while not self._stop.wait(max(0.0, next_tick - time.monotonic())):
            next_tick += self.interval
            pids = self.angel.worker_children()
            if not pids:
                self.empty_ticks += 1
                continue
            pid = self.random.choice(pids)
            try:
                os.kill(pid, signal.SIGKILL)
                self.kills.append((time.monotonic(), pid))
            except ProcessLookupError:
                pass


# ---------------------------------------------------------------------------------------------


class WorkersKilledUnderLoad(TempestCase):
    REQUESTS = 10_000
    BASELINE_REQUESTS = 2_000
    CONCURRENCY = 50
    # Paced: unpaced, this machine serves the 10,000 in under a second, about 4 kills; at
    # 1,000 req/s the load lasts 10 s and meets about 50 kills (each instance ~17 times).
    RATE = 1_000
    KILL_INTERVAL = 0.2
    FRONT_TIMEOUT = 10.0

    def start_angel(self, redis):
        directory = tempfile.mkdtemp(prefix="chaos-angel-")
        self.addCleanup(shutil.rmtree, directory, True)
        path = os.path.join(directory, "angel.toml")
        with open(path, "w") as f:
            # The angel's defaults, nothing raised (issue 7 item 12): a SIGKILL from outside is
            # not a crash, so the killed workers come back after backoff-min, however often.
            f.write(f"""
[programs.web]
command = "{WORKER_BIN} --queue tempest --heartbeat-ttl 600ms"
count = 3
""")
        angel = Angel(redis, path)
        self.addCleanup(angel.stop)
        self._processes.append(angel.process)
        return angel

    def check_all_answered_once(self, outcomes, urls, what):
        errors = [o for o in outcomes if o.error is not None]
        self.assertEqual(errors, [], f"{what}: {len(errors)} requests failed at the socket level")
        by_url = {}
        for o in outcomes:
            by_url.setdefault(o.url, []).append(o)
        missing = [u for u in urls if u not in by_url]
        self.assertEqual(missing[:10], [], f"{what}: {len(missing)} requests got no answer")
        twice = {u: v for u, v in by_url.items() if len(v) != 1}
        self.assertEqual(twice, {}, f"{what}: requests answered more than once")
        statuses = {}
        for o in outcomes:
            statuses[o.status] = statuses.get(o.status, 0) + 1
        bad = [o for o in outcomes if o.status != 200]
        self.assertEqual(bad[:10], [], f"{what}: statuses {statuses}")
        wrong = [o for o in outcomes if o.echoed_url() != o.url]
        self.assertEqual(wrong[:10], [], f"{what}: {len(wrong)} answers carry another request's URL")

    def test_random_worker_sigkilled_every_200ms_loses_nothing(self):
        redis = self.start_redis()
        r = redis.client()
        self.addCleanup(r.close)
        front = self.start_front(redis, "--timeout", f"{int(self.FRONT_TIMEOUT)}s")
        angel = self.start_angel(redis)
        angel.running_pids("web", 3)
        wait_until(lambda: len(r.smembers("tempest:workers")) >= 3, 10.0,
                   message="3 reliable workers registered")
        client_timeout = self.FRONT_TIMEOUT + 5

        # Baseline: same processes, no kills.
        warm = [f"/warm/{i}" for i in range(200)]
        self.check_all_answered_once(fire(front.http_port, warm, 10, client_timeout)[0], warm, "warm-up")
        base_urls = [f"/base/{i}" for i in range(self.BASELINE_REQUESTS)]
        base, base_elapsed = fire(front.http_port, base_urls, self.CONCURRENCY, client_timeout,
                                  self.RATE)
        self.check_all_answered_once(base, base_urls, "baseline")
        info_before = front.info()

        # Chaos: the same load, 5 kills a second.
        seed = random.randrange(1 << 30)
        urls = [f"/chaos/{i}" for i in range(self.REQUESTS)]
        killer = Killer(angel, self.KILL_INTERVAL, seed).start()
        try:
            chaos, chaos_elapsed = fire(front.http_port, urls, self.CONCURRENCY, client_timeout,
                                        self.RATE)
        finally:
            killer.stop()
        info = front.info()

        report(f"seed {seed}: {len(killer.kills)} workers SIGKILLed "
               f"({killer.empty_ticks} ticks found none running), "
               f"{len(set(p for _, p in killer.kills))} distinct pids")
        report(latency_line("baseline, no kills  ", base, base_elapsed))
        report(latency_line(f"with a kill / {int(self.KILL_INTERVAL * 1000)}ms", chaos, chaos_elapsed))
        p99_added = (percentile([o.latency for o in chaos], 99)
                     - percentile([o.latency for o in base], 99)) * 1000
        slow = sum(1 for o in chaos if o.latency > 0.3)
        report(f"p99 added by the kills: {p99_added:.1f} ms; {slow} requests over 300 ms "
               f"(re-delivered after a death: within 2 x 600 ms heartbeat TTL + reap)")
        requeued = sum(int(n) for n in re.findall(r"reaped dead worker \S+: (\d+) jobs re-queued",
                                                  angel.process.log()))
        report(f"reapers re-queued {requeued} job(s) held by killed workers")
        duplicates = info["answers_unknown"] - info_before["answers_unknown"]
        report(f"front: answers accepted {info['answers_accepted'] - info_before['answers_accepted']}, "
               f"late duplicates refused (answers_unknown) {duplicates}, "
               f"timeouts {info['timeouts']}, redis_unavailable {info['redis_unavailable']}\n")

        self.assertGreaterEqual(len(killer.kills), 0.6 * chaos_elapsed / self.KILL_INTERVAL,
                                "the chaos loop killed less than expected")
        self.check_all_answered_once(chaos, urls, "under kills")
        # Nothing lost on the way either: no deadline passed, nothing dead-lettered.
        self.assertEqual(info["timeouts"], 0)
        self.assertEqual(info["redis_unavailable"], 0)
        self.assertEqual(info["answers_accepted"] - info_before["answers_accepted"], self.REQUESTS)
        self.assertEqual(r.llen("tempest:dead"), 0, r.lrange("tempest:dead", 0, 3))
        self.assertTrue(front.alive(), "the front died")
        self.assertTrue(angel.process.alive(), "the angel died")
        # The angel brings the workers back, and they serve.
        angel.running_pids("web", 3)
        after = [f"/after/{i}" for i in range(100)]
        self.check_all_answered_once(fire(front.http_port, after, 10, client_timeout)[0], after,
                                     "after the kills")


class RedisRestartUnderLoad(TempestCase):
    CLIENTS = 20
    FRONT_TIMEOUT = 3.0
    OUTAGE = 2.0
    QUICK_503 = 1.0
    # The front and the workers reconnect with a backoff doubling from 100 ms up to 2 s
    # (src/core/redis/async_client.cpp, src/worker/worker.cpp): after a 2 s outage the next
    # attempt can come up to ~1.2 s after Redis is back.
    RECOVERY_BOUND = 1.0  # the issue: service resumes within a second of Redis returning

    def test_redis_stopped_for_2s_under_load(self):
        redis = self.start_redis()
        front = self.start_front(redis, "--timeout", f"{int(self.FRONT_TIMEOUT)}s")
        workers = [self.start_worker(WORKER, redis, "tempest", "--heartbeat-ttl", "1s")
                   for _ in range(2)]

        outcomes = []
        stop = threading.Event()

        def load(n):
            client = Client(front.http_port, self.FRONT_TIMEOUT + 5)
            i = 0
            try:
                while not stop.is_set():
                    outcomes.append(client.get(f"/load/{n}/{i}"))
                    i += 1
            finally:
                client.close()

        threads = [threading.Thread(target=load, args=(n,), daemon=True)
                   for n in range(self.CLIENTS)]
        for t in threads:
            t.start()
        try:
            time.sleep(1.5)
            before = len(outcomes)
            self.assertGreater(before, 0)

            t_down = time.monotonic()
            redis.stop()  # SIGTERM, waits until the port is closed
            t_closed = time.monotonic()
            time.sleep(max(0.0, t_down + self.OUTAGE - time.monotonic()))
            t_restart = time.monotonic()
            redis.restart()  # a fresh, empty server on the same port; returns once it PINGs
            t_ready = time.monotonic()

            def first_200():
                ok = [o.end for o in list(outcomes) if o.status == 200 and o.start > t_closed]
                return min(ok) if ok else None

            recovered_at = wait_until(first_200, self.RECOVERY_BOUND + 5, 0.02,
                                      message="a 200 after Redis came back")
            # Keep the load on until every request in flight at the stop has had its deadline,
            # and for a while of normal service after recovery.
            time.sleep(max(0.0, max(t_down + self.FRONT_TIMEOUT + 1.0, recovered_at + 1.5)
                           - time.monotonic()))
        finally:
            stop.set()
            for t in threads:
                t.join(self.FRONT_TIMEOUT + 10)
        self.assertFalse(any(t.is_alive() for t in threads), "a client thread hangs")

        done = list(outcomes)
        statuses = {}
        for o in done:
            statuses[o.status] = statuses.get(o.status, 0) + 1
        recovery = recovered_at - t_ready
        in_flight_at_stop = [o for o in done if o.start < t_down < o.end]
        o503 = [o for o in done if o.status == 503]
        o504 = [o for o in done if o.status == 504]
        during = [o for o in done if t_closed <= o.start and o.end < t_restart]
        report(f"{len(done)} requests, statuses {statuses}; Redis down {t_restart - t_down:.2f}s "
               f"(SIGTERM to port closed {t_closed - t_down:.3f}s, restart to PING "
               f"{t_ready - t_restart:.3f}s)")
        if o503:
            report(f"503: {len(o503)}, latency max {max(o.latency for o in o503) * 1000:.1f} ms, "
                   f"p99 {percentile([o.latency for o in o503], 99) * 1000:.1f} ms")
        report(f"504: {len(o504)} (requests in flight when Redis stopped: {len(in_flight_at_stop)})")
        report(f"recovery: first 200 {recovery * 1000:.0f} ms after redis-server answered PING; "
               f"slowest request {max(o.latency for o in done) * 1000:.0f} ms\n")

        # Nothing crashed.
        self.assertTrue(front.alive(), "the front died")
        for w in workers:
            self.assertTrue(w.alive(), f"worker {w.pid} died")
        # Every request got an HTTP answer: no reset, no hang, only 200/503/504.
        errors = [o for o in done if o.error is not None]
        self.assertEqual(errors[:10], [], f"{len(errors)} requests failed at the socket level")
        self.assertEqual(set(statuses) - {200, 503, 504}, set(), statuses)
        self.assertEqual([o for o in done if o.latency > self.FRONT_TIMEOUT + 0.5][:10], [],
                         "requests took longer than --timeout")
        wrong = [o for o in done if o.status == 200 and o.echoed_url() != o.url]
        self.assertEqual(wrong[:10], [], "answers carrying another request's URL")
        # The outage was seen, as quick 503s, and only while Redis was away.
        self.assertGreater(len(o503), 0, "no 503 while Redis was down")
        self.assertEqual([o for o in o503 if o.latency > self.QUICK_503][:10], [], "slow 503s")
        self.assertEqual([o for o in o503 if o.end < t_down][:10], [], "503s before the outage")
        self.assertEqual([o for o in o503 if o.start > recovered_at][:10], [],
                         "503s after service came back")
        self.assertEqual([o for o in during if o.status != 503][:10], [],
                         "requests made while Redis was down answered otherwise than 503")
        # 504 only for jobs that were in Redis when it went down (it restarts empty).
        self.assertEqual([o for o in o504 if o.start >= t_closed][:10], [],
                         "504 for a request made after Redis was gone")
        self.assertLessEqual(len(o504), len(in_flight_at_stop))
        # Recovery is automatic and quick.
        self.assertLessEqual(recovery, self.RECOVERY_BOUND, f"recovery took {recovery:.2f}s")
        after = [o for o in done if o.start > recovered_at]
        self.assertTrue(after, "no request after recovery")
        self.assertEqual({o.status for o in after}, {200}, "statuses after recovery")
        self.assertGreaterEqual(front.info()["redis_unavailable"], len(o503))
        # The new, empty Redis knows the workers again (they re-register as they take jobs), so
        # a worker dying from now on still gets its jobs re-queued.
        with redis.client() as c:
            wait_until(lambda: {w.pid for w in workers}
                       <= {int(m.split(b":")[-2]) for m in c.smembers("tempest:workers")},
                       5.0, message="both workers registered in the new Redis")


if __name__ == "__main__":
    import unittest
    unittest.main()
