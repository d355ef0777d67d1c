"""One front, one queue, workers in five languages competing for its jobs (issue 9): the C++
hello_worker and the hello examples of clients/python, clients/node and clients/ruby, and
examples/shell/worker.sh. 10,000 requests: every one answered `Hello world!`, each worker served
some (each says who it is in X-Worker), none lost (the front got exactly one answer per job)."""
import os
import shutil
import threading
import unittest

from support.harness import (BUILD_DIR, REPO_DIR as ROOT, HttpConnection, TempestCase, _Process,
                             wait_until)

REQUESTS = 10_000
CLIENTS = 8  # keep-alive connections sending them

# X-Worker value -> argv of that language's hello worker (--redis URL --queue NAME appended).
WORKERS = {
    "c++": [os.path.join(BUILD_DIR, "examples", "hello_worker")],
    "python": ["/usr/bin/python3", os.path.join(ROOT, "clients", "python", "examples", "hello.py")],
    "node": [shutil.which("node") or "node", os.path.join(ROOT, "clients", "node", "examples", "hello.js")],
    "ruby": [shutil.which("ruby") or "ruby", os.path.join(ROOT, "clients", "ruby", "examples", "hello.rb")],
    "shell": [os.path.join(ROOT, "examples", "shell", "worker.sh")],
}


class PolyglotTest(TempestCase):
    def test_five_languages_share_one_queue_and_lose_nothing(self):
        redis = self.start_redis()
        front = self.start_front(redis, "--timeout", "20s")
        for name, argv in WORKERS.items():
            proc = _Process(f"worker-{name}", [*argv, "--redis", redis.url + "/0", "--queue", "tempest"])
            self.addCleanup(proc.kill)
            self._processes.append(proc)
        counts, errors, lock = {}, [], threading.Lock()

        def client(n):
            try:
                with HttpConnection(front.http_port, timeout=20) as conn:
                    for i in range(n):
                        conn.request("GET", f"/p{i}", {"Host": "polyglot"})
                        resp = conn.read_response()
                        if resp.status != 200 or resp.body != b"Hello world!":
                            raise AssertionError(f"request {i}: {resp!r}")
                        who = resp.header("x-worker") or "?"
                        with lock:
                            counts[who] = counts.get(who, 0) + 1
            except Exception as e:  # noqa: BLE001 - reported below
                with lock:
                    errors.append(repr(e))

        # Warm-up until every language has answered at least once (each started and joined).
        def all_answered():
            client(20)
            return set(WORKERS) <= set(counts)
        try:
            wait_until(all_answered, 30, interval=0.1, message="every worker to answer")
        except AssertionError as e:
            raise AssertionError(f"{e}; answered so far: {counts}") from None
        warm = dict(counts)
        counts.clear()
        threads = [threading.Thread(target=client, args=(REQUESTS // CLIENTS,)) for _ in range(CLIENTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(240)
        self.assertEqual(errors, [])
        self.assertEqual(sum(counts.values()), REQUESTS, counts)
        for name in WORKERS:
            self.assertGreater(counts.get(name, 0), 0, f"{name} served none of {counts}")
        self.assertEqual(set(counts), set(WORKERS), counts)
        total = REQUESTS + sum(warm.values())
        self.assertEqual(front.counter("answers_accepted"), total)
        self.assertEqual(front.counter("answers_unknown"), 0)
        self.assertEqual(front.counter("timeouts"), 0)
        print(f"\npolyglot: {REQUESTS} requests served by {dict(sorted(counts.items()))}")


if __name__ == "__main__":
    unittest.main()
