"""A hung answer endpoint must not stall a worker lane (issue 7, item 3; docs/security.md,
src/core/answer/client.hpp). One lane answers two endpoints, jobs alternating between them:
A is hung (a listener that accepts and never reads nor replies, so that the large answers sent
there fill its buffers; or one whose backlog is full, so that connecting never completes), B is
a real front. Every request to B must be answered promptly, A's answers are dropped and counted
(worker::dropped_answers(), read through echo_worker's /worker-stats), and the worker lives on.
Before the non-blocking answer connections, the lane blocked on A: 5 s for a reply or a write,
2 s for a connect, and B's requests waited behind it.
"""

import json
import socket
import time

from support.harness import LOOPBACK, SilentListener, TempestCase, http_request, wait_until

from integration.test_answer_trust import worker_stats
from integration.test_reliable import BOUND, MARGIN, ReliableCase, make_job

BIG_HEADER = "a" * 256 * 1024  # echoed back: each answer to A is over 256 KiB
B_BOUND = 1.0  # seconds, per request to B (measured: ~0.1 s at most; generous for a shared machine)


def big_job(respond_to, job_id):
    request = {"method": "GET", "url": f"/big/{job_id}", "path": f"/big/{job_id}", "query": "",
               "headers": {"host": "x", "x-pad": BIG_HEADER}, "remote_addr": "127.0.0.1:1",
               "http_version": "1.1", "retry": True}
    return json.dumps(["url", [request], respond_to, job_id])


class FullBacklog:
    """A listener that never accepts and whose backlog is full: a connect to it is never
    answered (its SYN is dropped), as with a host that blackholes packets."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind((LOOPBACK, 0))
        self.sock.listen(0)
        self.address = f"{LOOPBACK}:{self.sock.getsockname()[1]}"
        self.fillers = []
        for _ in range(8):  # the accept queue holds backlog + 1: fill it, then some
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(self.sock.getsockname())
            self.fillers.append(s)
        probe = socket.socket()
        probe.settimeout(0.5)
        try:
            probe.connect(self.sock.getsockname())
            self.blackholes = False  # the kernel still completed a handshake
        except OSError:
            self.blackholes = True
        self.fillers.append(probe)

    def close(self):
        for s in self.fillers:
            s.close()
        self.sock.close()


class HungEndpoint(TempestCase):

    def setUp(self):
        self.redis = self.start_redis()
        self.r = self.redis.client()
        self.front = self.start_front(self.redis, "--timeout", "10s")

    def alternate(self, a_address, rounds, *worker_flags):
        worker = self.start_worker("echo_worker", self.redis, "tempest", "--concurrency", "1",
                                   "--batch", "1", "--answer-allow", a_address, *worker_flags)
        times = []
        for i in range(rounds):
            self.r.rpush("tempest", big_job(a_address, 1000 + i))
            self.r.rpush("tempest:bell", "1")
            started = time.monotonic()
            resp = http_request(self.front.http_port, "GET", f"/b/{i}", timeout=20)
            times.append(time.monotonic() - started)
            self.assertEqual(resp.status, 200, resp)
            self.assertEqual(json.loads(resp.body)["url"], f"/b/{i}")
        print(f"\n  B request times (s): max {max(times):.3f}, "
              f"mean {sum(times) / len(times):.3f}, all {[round(t, 3) for t in times]}")
        self.assertLess(max(times), B_BOUND, f"a request to B waited behind A: {times}")
        self.assertTrue(worker.alive())
        return worker

    def test_endpoint_that_never_reads_does_not_stall_the_other_front(self):
        hung = SilentListener(read=False, rcvbuf=4096, backlog=16)
        self.addCleanup(hung.close)
        self.alternate(hung.address, 24)
        self.assertGreaterEqual(hung.accepted, 1)
        # A's answers filled its buffers or timed out: dropped and counted.
        wait_until(lambda: worker_stats(self.front)["dropped_answers"] >= 1, 15,
                   message="dropped answers to the hung endpoint counted")

    def test_connect_that_never_completes_is_bounded_by_the_connect_timeout(self):
        blackhole = FullBacklog()
        self.addCleanup(blackhole.close)
        if not blackhole.blackholes:
            self.fail("could not make a loopback listener that leaves connects unanswered")
        self.alternate(blackhole.address, 12, "--answer-connect-timeout", "300ms")
        wait_until(lambda: worker_stats(self.front)["dropped_answers"] >= 1, 15,
                   message="answers to the unreachable endpoint dropped and counted")


class HungEndpointAtReap(ReliableCase):
    """The reaper (in the heartbeat thread) answers 502 for a dead worker's job that is not safe
    to retry. Before, it waited for the reply of a hung endpoint 5 s, blocking the beats: with
    --heartbeat-ttl 1000ms and its lane in a long handler (no takes, which beat too), the reaping
    worker itself looked dead meanwhile."""

    def test_502_to_a_hung_endpoint_does_not_delay_the_heartbeat(self):
        hung = SilentListener(read=False, rcvbuf=4096, backlog=16)
        self.addCleanup(hung.close)
        self.r.rpush("tempest", make_job(hung.address, 77, "/sleep", "ms=30000", method="POST",
                                         retry=False))
        flags = ("--heartbeat-ttl", "1000ms", "--answer-allow", f"{hung.address},{self.fake.address}")
        a = self.start_worker("echo_worker", self.redis, "tempest", *flags)
        self.wait_holding(a)
        # The reaper's lane is busy in a long handler: only the heartbeat thread beats for it.
        self.r.rpush("tempest", make_job(self.fake.address, 78, "/sleep", "ms=8000"))
        b = self.start_worker("echo_worker", self.redis, "tempest", *flags)
        self.wait_holding(b)
        b_keys = wait_until(lambda: self.r.keys(f"tempest:worker:*:{b.pid}:*"), 5,
                            message="the second worker's heartbeat")
        a.kill()
        wait_until(lambda: hung.accepted >= 1, BOUND + MARGIN,
                   message="the reaper's connection to the hung endpoint")
        end = time.monotonic() + 3.0  # well past a 1 s TTL and the old 5 s reply wait
        while time.monotonic() < end:
            for key in b_keys:
                self.assertTrue(self.r.exists(key), "the reaper's heartbeat lapsed during the 502")
            time.sleep(0.05)
        self.assertTrue(b.alive())
