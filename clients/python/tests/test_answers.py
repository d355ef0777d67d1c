"""The answer connections (tempest/answers.py; protocol.md 2.1) against real sockets: answers
pipelined on one connection per endpoint, AUTH first, a closed connection reconnected with the
unacknowledged answers resent, a hung endpoint marked down after answer_timeout without holding
the answers to the others, an unreachable one dropped within the connect timeout."""

import socket
import threading
import time

from fixtures import ClientCase, FakeEndpoint, wait_until

from tempest.answers import AnswerPool, Limits


class SilentEndpoint:
    """Accepts and reads, never replies (a hung front)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.address = f"127.0.0.1:{self.sock.getsockname()[1]}"
        self.conns = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(c)

    def close(self):
        for c in self.conns:
            c.close()
        self.sock.close()


class AnswerPoolTest(ClientCase):
    def test_pipelined_on_one_connection_with_auth(self):
        ep = FakeEndpoint()
        self.addCleanup(ep.close)
        pool = AnswerPool("secret")
        self.addCleanup(pool.close)
        for i in range(5):
            pool.send(ep.address, "url", i, b'[200,{},"%d"]' % i, flush=False)
        pool.collect(final=True)
        cmds = ep.wait_commands(6)
        self.assertEqual(cmds[0], [b"AUTH", b"secret"])
        self.assertEqual([c[1] for c in cmds[1:]], [b"0", b"1", b"2", b"3", b"4"])
        self.assertEqual(pool.pending(), 0)
        self.assertEqual(len(pool.endpoints), 1)

    def test_reconnects_after_the_front_closed_the_connection(self):
        ep = FakeEndpoint()
        self.addCleanup(ep.close)
        pool = AnswerPool()
        self.addCleanup(pool.close)
        pool.send(ep.address, "url", 1, b"[200,{}]")
        pool.collect(final=True)
        ep.wait_commands(1)
        ep.drop_connections()  # the front closed it: the next answer sees that and reconnects
        wait_until(lambda: not ep.conns, message="closed")
        pool.send(ep.address, "url", 2, b"[200,{}]")
        pool.collect(final=True)
        self.assertEqual([c[1] for c in ep.wait_commands(2)], [b"1", b"2"])
        self.assertEqual(pool.dropped, 0)

    def test_hung_endpoint_is_dropped_without_holding_the_others(self):
        hung, ok = SilentEndpoint(), FakeEndpoint()
        self.addCleanup(hung.close)
        self.addCleanup(ok.close)
        pool = AnswerPool(limits=Limits(connect_timeout=0.5, timeout=0.5, reply_wait=0.05))
        self.addCleanup(pool.close)
        pool.send(hung.address, "url", 1, b"[200,{}]")
        pool.send(ok.address, "url", 2, b"[200,{}]")
        started = time.monotonic()
        pool.collect()
        self.assertLess(time.monotonic() - started, 0.4, "a batch waits reply_wait for the hung one")
        ok.wait_commands(1)
        pool.collect(final=True)
        self.assertLess(time.monotonic() - started, 2.0)
        self.assertEqual(pool.dropped, 1)
        # down for 1 s: answers meanwhile are dropped at once
        pool.send(hung.address, "url", 3, b"[200,{}]")
        self.assertEqual(pool.dropped, 2)

    def test_unreachable_endpoint(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{s.getsockname()[1]}"
        s.close()  # nothing listens there
        pool = AnswerPool()
        pool.send(address, "url", 1, b"[200,{}]")
        pool.send("not an address", "url", 2, b"[200,{}]")
        pool.collect(final=True)
        self.assertEqual(pool.dropped, 2)

    def test_slow_endpoint_replies_are_read_by_a_later_batch(self):
        slow = FakeEndpoint(reply_delay=0.6)
        self.addCleanup(slow.close)
        pool = AnswerPool(limits=Limits(timeout=2.0, reply_wait=0.05))
        self.addCleanup(pool.close)
        pool.send(slow.address, "url", 1, b"[200,{}]")
        started = time.monotonic()
        pool.collect()
        self.assertLess(time.monotonic() - started, 0.45, "gave up waiting after reply_wait")
        self.assertEqual(pool.pending(), 1)
        slow.wait_commands(1)
        wait_until(lambda: (pool.collect(), pool.pending() == 0)[1], 3, message="the late reply read")
        self.assertEqual(pool.dropped, 0)
