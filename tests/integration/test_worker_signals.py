"""SIGTERM at start-up: a C++ worker program (build/examples/*, libtempest) stopped at any moment
of its start must stop cleanly (exit 0), never die by the default action of the signal.

No program can catch a signal before its own code runs (exec, the dynamic loader): a
supervisor closes that window by spawning with SIGTERM and SIGINT blocked, so that they stay
pending until the program has its handlers and unblocks them. spawn_with_stops_blocked() does
what such a supervisor does; the worker library must then install its handlers first (before
parsing flags, logging or connecting to Redis) and unblock the signals, turning the pending
SIGTERM into a clean stop. Without the handlers it would die by signal 15 (or, blocked and never
unblocked, never stop at all).
"""

import os
import random
import signal
import subprocess
import tempfile
import time

from support.harness import BUILD_DIR, TempestCase

ROUNDS = 24        # spawns per program and mode
PARALLEL = 6       # spawned at once (the machine is shared: not more)
EXIT_TIMEOUT = 15  # seconds; a worker in run() notices a stop within its 1 s pop timeout


def spawn_with_stops_blocked(argv, log):
    """Popen with SIGTERM and SIGINT blocked in the child's initial signal mask (inherited from
    this thread across fork and exec), as a supervisor spawns its children."""
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
    try:
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=log, start_new_session=True)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


class StartupSigterm(TempestCase):

    def setUp(self):
        self.redis = self.start_redis()

    def sigterm_at_start(self, program, *flags):
        """Spawns the program ROUNDS times, PARALLEL at once, and SIGTERMs each one right after
        spawn or a few milliseconds later (during flag parsing, log set-up, the first Redis
        connection, or the first wait for jobs); returns [(delay, exit code, stderr)]."""
        argv = [os.path.join(BUILD_DIR, "examples", program), "--redis", self.redis.url,
                "--queue", "sigterm", *flags]
        rng = random.Random(1234)
        results = []
        for start in range(0, ROUNDS, PARALLEL):
            batch = []
            for i in range(start, min(start + PARALLEL, ROUNDS)):
                delay = 0.0 if i % 2 == 0 else rng.uniform(0.0, 0.03)
                log = tempfile.TemporaryFile()
                proc = spawn_with_stops_blocked(argv, log)
                self.addCleanup(lambda p=proc: p.poll() is None and (p.kill(), p.wait()))
                batch.append((delay, proc, log))
                if delay:
                    time.sleep(delay)
                proc.send_signal(signal.SIGTERM)
            for delay, proc, log in batch:
                try:
                    code = proc.wait(timeout=EXIT_TIMEOUT)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
                    code = "no exit"
                log.seek(0)
                results.append((delay, code, log.read().decode("utf-8", "replace")[-2000:]))
                log.close()
        return results

    def assert_all_clean(self, results):
        bad = [(round(d * 1000, 1), code, err) for d, code, err in results if code != 0]
        self.assertEqual(bad, [], "SIGTERM at start-up must be a clean stop (exit 0); "
                                  "(delay ms, exit code, stderr) of the others")

    def test_echo_worker_stops_cleanly_whenever_sigterm_comes(self):
        self.assert_all_clean(self.sigterm_at_start("echo_worker"))

    def test_hello_worker_stops_cleanly_whenever_sigterm_comes(self):
        self.assert_all_clean(self.sigterm_at_start("hello_worker"))

    def test_plain_mode_too(self):
        self.assert_all_clean(self.sigterm_at_start("hello_worker", "--mode", "plain"))


if __name__ == "__main__":
    import unittest
    unittest.main()
