"""Server-Sent Events resume from deep history (docs/protocol.md 7.6, 7.7): the replay goes out
in bounded pages as the socket drains, counted against --sse-max-queue.

Real redis-server, real front, raw sockets. The history is written straight into the channels'
Redis Streams (tempest:history:<channel>, fields e and d, as src/core/history.hpp records it),
which is what `tempest publish` leaves there, only faster. Memory is the front's VmRSS and
VmHWM (peak) from /proc/<pid>/status; the bounds are far above what a paged replay holds and
far below what a replay of the whole history holds, so that a loaded machine does not matter.
"""

import json
import socket
import time

from integration.test_sse import SseCase, SseStream, publish, wait_subscribed
from support.harness import wait_until

DEEP_CHANNELS = [f"deep{i}" for i in range(16)]
DEEP_ENTRIES = 1000          # per channel
DEEP_DATA = 1000             # bytes of data per entry: ~17 MB of events per resuming client
MAX_QUEUE_KIB = 256


def proc_status_kib(pid, field):
    """VmRSS, VmHWM ... of a process, in KiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(f"/proc/{pid}/status has no {field}")


def fill_history(redis, channels, entries, size):
    """entries recorded messages per channel, data "<channel>:<n>:xxx..." of size bytes.
    Returns {channel: [ids, oldest first]}."""
    ids = {}
    with redis.client() as c:
        for channel in channels:
            pipe = c.pipeline(transaction=False)
            for n in range(entries):
                head = f"{channel}:{n}:"
                pipe.xadd(f"tempest:history:{channel}", {"e": "", "d": head + "x" * (size - len(head))})
            ids[channel] = [i.decode() for i in pipe.execute()]
    return ids


def stable(read, settle=1.0, timeout=60.0, message="a value to settle"):
    """Waits until read() returns the same value for `settle` seconds; returns it."""
    deadline = time.monotonic() + timeout
    last, since = read(), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.1)
        now = read()
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= settle:
            return now
    raise AssertionError(f"timed out after {timeout}s waiting for {message} (last {last!r})")


class DeepReplayTest(SseCase):

    @classmethod
    def setUpClass(cls):
        cls.redis = cls.start_redis_for_class()
        cls.front = cls.start_front_for_class(cls.redis, "--sse-max-queue", f"{MAX_QUEUE_KIB}k")
        cls.ids = fill_history(cls.redis, DEEP_CHANNELS, DEEP_ENTRIES, DEEP_DATA)
        cls.all_channels = ",".join(DEEP_CHANNELS)
        cls.from_zero = ",".join(f"{c}=0" for c in DEEP_CHANNELS)

    def non_reader(self):
        """A client that resumes every deep channel from 0 and never reads."""
        stream = SseStream(self.front.http_port, f"/sub/{self.all_channels}",
                           {"Last-Event-ID": self.from_zero}, rcvbuf=4096, read_head=False)
        self.addCleanup(stream.close)
        return stream

    def test_resuming_clients_that_never_read_keep_memory_bounded(self):
        pid = self.front.pid
        rss_before = proc_status_kib(pid, "VmRSS")
        replayed_before = self.front.info()["sse_replayed"]
        clients = [self.non_reader() for _ in range(40)]
        self.wait_info("sse_subscribers", lambda n: n == 40, timeout=30.0)
        # The replay stops where the queues are full (before the fix it sent everything). A
        # socket takes a few MB before the queue starts to fill: more than that is replayed.
        wait_until(lambda: self.front.info()["sse_replayed"] > replayed_before, 30.0,
                   message="the replay to start")
        replayed = stable(lambda: self.front.info()["sse_replayed"], settle=3.0,
                          message="the replay to stop")
        peak = proc_status_kib(pid, "VmHWM")
        growth_mib = (peak - rss_before) / 1024
        print(f"\n[rss] before {rss_before} KiB, peak {peak} KiB (+{growth_mib:.1f} MiB), "
              f"{replayed - replayed_before} events replayed to 40 non-readers")
        # 40 x 256 KiB of queue is 10 MiB; all the history would be 40 x ~17 MB.
        self.assertLess(growth_mib, 80, "the front's peak RSS grew too much")
        self.assertLess(replayed - replayed_before, 40 * len(DEEP_CHANNELS) * DEEP_ENTRIES // 2,
                        "the replay was not held back by the queue limit")
        self.assertEqual(self.front.info()["sse_subscribers"], 40)

        for stream in clients:
            stream.close()
        self.wait_info("sse_subscribers", lambda n: n == 0, timeout=30.0)
        # What they cost goes back to the system (before the fix, ~600 MB stayed).
        held = lambda: (proc_status_kib(pid, "VmRSS") - rss_before) / 1024  # noqa: E731
        try:
            wait_until(lambda: held() < 30, 15.0, interval=0.2, message="the memory to be released")
        finally:
            print(f"[rss] after they left: +{held():.1f} MiB")

    def test_a_paged_replay_is_complete_in_order_and_once(self):
        stream = SseStream(self.front.http_port, f"/sub/{self.all_channels}",
                           {"Last-Event-ID": self.from_zero}, timeout=30.0)
        self.addCleanup(stream.close)
        self.assertEqual(stream.status, 200)
        total = len(DEEP_CHANNELS) * DEEP_ENTRIES
        events = stream.events(total, timeout=120.0)
        # Merged in id order across channels, each channel complete and in order.
        stream_ids = [e.cursor[0][1] for e in events]
        expected = sorted((i for ids in self.ids.values() for i in ids),
                          key=lambda i: tuple(int(p) for p in i.split("-")))
        self.assertEqual(stream_ids, expected)
        for channel in DEEP_CHANNELS:
            data = [e.data.split(":")[1] for e in events if e.channel == channel]
            self.assertEqual(data, [str(n) for n in range(DEEP_ENTRIES)], channel)
        self.assertEqual(dict(events[-1].cursor), {c: self.ids[c][-1] for c in DEEP_CHANNELS})
        # Then live, and nothing twice.
        wait_subscribed(self.redis, "deep3")
        live = publish(self.redis, "deep3", "live")
        event = stream.next_event(timeout=10.0)
        self.assertEqual((event.data, event.cursor[0]), ("live", ("deep3", live)))
        self.assertEqual(stream.events_within(0.3), [])

    def test_live_messages_during_a_paged_replay_come_after_it_once(self):
        # A reader that has not read yet: the replay waits for it, live messages wait behind it.
        channel = "deeplive"
        ids = fill_history(self.redis, [channel], 1000, DEEP_DATA)[channel]
        stream = SseStream(self.front.http_port, f"/sub/{channel}",
                           {"Last-Event-ID": f"{channel}={ids[99]}"}, rcvbuf=4096, timeout=30.0)
        self.addCleanup(stream.close)
        self.assertEqual(stream.status, 200)
        wait_subscribed(self.redis, channel)
        recorded = [publish(self.redis, channel, f"rec {i}") for i in range(3)]
        self.bare_publish(channel, '["bare"]')
        events = stream.events(900 + 4, timeout=120.0)
        data = [e.data.split(":")[1] if e.data.startswith(channel) else e.data for e in events]
        self.assertEqual(data, [str(n) for n in range(100, 1000)] +
                         ["rec 0", "rec 1", "rec 2", "bare"])
        self.assertEqual([e.cursor[0][1] for e in events[-4:-1]], recorded)
        self.assertEqual(stream.events_within(0.3), [])


class DeepReplaySlowTest(SseCase):

    def setUp(self):
        self.redis = self.start_redis()
        self.front = self.start_front(self.redis, "--sse-max-queue", "64k")
        fill_history(self.redis, ["slowdeep"], 8000, 1000)  # more than a socket takes

    def test_a_resuming_client_that_never_reads_is_closed_by_the_slow_subscriber_rule(self):
        stream = SseStream(self.front.http_port, "/sub/slowdeep", {"Last-Event-ID": "slowdeep=0"},
                           rcvbuf=4096, read_head=False)
        self.addCleanup(stream.close)
        self.wait_info("sse_subscribers", lambda n: n == 1)
        wait_subscribed(self.redis, "slowdeep")
        # Live messages queue up behind a replay that cannot drain: over the limit, it is cut.
        chunk = "y" * 8 * 1024
        for i in range(40):
            self.bare_publish("slowdeep", json.dumps([f"{i}:{chunk}"]))
            if self.front.info()["sse_slow_closed"] >= 1:
                break
        self.wait_info("sse_slow_closed", lambda n: n == 1)
        self.wait_info("sse_subscribers", lambda n: n == 0)
        stream.sock.settimeout(10.0)
        try:
            while stream.sock.recv(65536):
                pass
        except (ConnectionResetError, socket.timeout):
            pass
