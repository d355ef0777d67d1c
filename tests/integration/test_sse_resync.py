"""Server-Sent Events resync after the pub/sub connection is lost (docs/protocol.md 7.8): the
history of the gap goes out in bounded pages, in order and once with the live messages that
arrive meanwhile, and a deep gap with subscribers that never read keeps the front's memory
bounded (the slow-subscriber rule of 7.7 closes them).

Real redis-server, real front, raw sockets. The pub/sub connection is cut with CLIENT KILL TYPE
pubsub, in one transaction with the XADDs that make the gap, so that the front cannot resync
before the gap is complete. Messages are recorded as src/core/history.hpp records them (XADD to
tempest:history:<channel>, fields e and d, then PUBLISH ["message", data, id]), only faster than
`tempest publish`. Memory is measured as in test_sse_replay (VmHWM after clear_refs).
"""

import json
import socket

from integration.test_sse import SseCase, SseStream, wait_subscribed
from integration.test_sse_replay import proc_status_kib, reset_peak, stable


def record(client, channel, data):
    """Records and publishes one message the way publishers do; returns its id."""
    entry = client.xadd(f"tempest:history:{channel}", {"e": "", "d": data}).decode()
    client.publish(channel, json.dumps(["message", data, entry]))
    return entry


def cut_pubsub_with_gap(redis, gaps):
    """In one transaction: drop the front's pub/sub connection(s), then record {channel: [data]}
    in the history only (no PUBLISH: they happened while the front was not listening)."""
    with redis.client() as c:
        pipe = c.pipeline(transaction=True)
        pipe.execute_command("CLIENT", "KILL", "TYPE", "pubsub")
        for channel, items in gaps.items():
            for data in items:
                pipe.xadd(f"tempest:history:{channel}", {"e": "", "d": data})
        replies = pipe.execute()
    if replies[0] < 1:
        raise AssertionError("CLIENT KILL TYPE pubsub killed nothing")
    return [r.decode() for r in replies[1:]]


def read_until_resync(case, stream, channels, count, timeout=30.0):
    """The first `count` non-resync events and the {channel: lost} of the tempest.resync
    events, checking that each channel's resync comes after every gap entry of that channel."""
    lost, events = {}, []
    while len(events) < count or set(lost) != set(channels):
        try:
            event = stream.next_event(timeout)
        except socket.timeout:
            raise AssertionError(f"{len(events)} of {count} events and resyncs {lost} within {timeout}s "
                                 f"(last {events[-1].id if events else None})") from None
        if event.event == "tempest.resync":
            value = json.loads(event.data)
            case.assertNotIn(value["channel"], lost, f"two resyncs for one channel: {event}")
            lost[value["channel"]] = (value["lost"], len(events))
        else:
            events.append(event)
    return lost, events


class ResyncOrderTest(SseCase):

    def setUp(self):
        self.redis = self.start_redis()
        self.front = self.start_front(self.redis, "--sse-max-queue", "64k")

    def test_a_deep_gap_is_delivered_in_order_once_with_live_messages_after_it(self):
        one = self.subscribe("rz")
        two = self.subscribe("rz,rz-other")
        with self.redis.client() as c:
            seen = record(c, "rz", "seen")
        for stream in (one, two):
            self.assertEqual(stream.next_event().id.split(",")[0], f"rz={seen}")
        # 3000 entries of ~500 bytes: ~1.5 MB, about 50 pages of a 64k queue's half.
        gap_data = [f"gap {n} " + "g" * 490 for n in range(3000)]
        gap_ids = cut_pubsub_with_gap(self.redis, {"rz": gap_data})
        wait_subscribed(self.redis, "rz", "rz-other")
        # Live messages as soon as the front listens again: they come during the resync (held
        # until the history reaches them) or after it; either way after the gap, once.
        with self.redis.client() as c:
            live_ids = [record(c, "rz", f"live {n}") for n in range(20)]
        expected = list(zip(gap_ids + live_ids, gap_data + [f"live {n}" for n in range(20)]))
        for stream, channels in ((one, ["rz"]), (two, ["rz", "rz-other"])):
            lost, events = read_until_resync(self, stream, channels, len(expected))
            self.assertEqual([(e.cursor[0][1], e.data) for e in events], expected)
            self.assertEqual({e.channel for e in events}, {"rz"})
            self.assertEqual(lost["rz"][0], False, "the history covered the gap")
            self.assertGreaterEqual(lost["rz"][1], len(gap_ids), "tempest.resync before the gap was sent")
            if "rz-other" in channels:
                self.assertEqual(lost["rz-other"][0], True, "rz-other never had history")
            self.assertEqual(stream.events_within(0.3), [])
        # Then live as usual.
        with self.redis.client() as c:
            after = record(c, "rz", "after")
        for stream in (one, two):
            event = stream.next_event()
            self.assertEqual((event.data, event.cursor[0]), ("after", ("rz", after)))
        self.assertGreater(self.front.info()["sse_replayed"], 0)

    def test_over_the_replay_limit_the_oldest_are_sent_and_the_gap_reported(self):
        self.front = self.start_front(self.redis, "--sse-max-queue", "4k", "--sse-replay-limit", "30")
        stream = self.subscribe("rl")
        with self.redis.client() as c:
            record(c, "rl", "seen")
        self.assertEqual(stream.next_event().data, "seen")
        gap_ids = cut_pubsub_with_gap(self.redis, {"rl": [f"gap {n}" for n in range(100)]})
        lost, events = read_until_resync(self, stream, ["rl"], 30)
        self.assertEqual([e.cursor[0][1] for e in events], gap_ids[:30])
        self.assertEqual(lost, {"rl": (True, 30)})
        self.assertEqual(stream.events_within(0.3), [])


    def test_live_messages_beyond_the_queue_limit_stop_the_resync_and_follow_it(self):
        # A 1k queue makes pages of one entry: 3000 round trips, while more than 1k of live
        # messages arrive. The resync stops there (lost), then every live message, once.
        self.front = self.start_front(self.redis, "--sse-max-queue", "1k")
        stream = self.subscribe("ro")
        with self.redis.client() as c:
            record(c, "ro", "seen")
        self.assertEqual(stream.next_event().data, "seen")
        gap_ids = cut_pubsub_with_gap(self.redis, {"ro": [f"gap {n} " + "g" * 190 for n in range(3000)]})
        wait_subscribed(self.redis, "ro")
        with self.redis.client() as c:
            live_ids = [record(c, "ro", f"live {n} " + "l" * 190) for n in range(10)]
        lost, events = {}, []
        while "ro" not in lost or len(events) - lost["ro"][1] < len(live_ids):
            event = stream.next_event(timeout=30.0)
            if event.event == "tempest.resync":
                lost["ro"] = (json.loads(event.data)["lost"], len(events))
            else:
                events.append(event)
        sent = lost["ro"][1]
        self.assertTrue(lost["ro"][0], "the resync stopped before the end of the gap")
        self.assertLess(sent, len(gap_ids), "the live messages came before the resync ended")
        self.assertEqual([e.cursor[0][1] for e in events], gap_ids[:sent] + live_ids)
        self.assertEqual(stream.events_within(0.3), [])


DEEP_CHANNELS = ["rdeep0", "rdeep1"]
DEEP_ENTRIES = 10000   # per channel: the default --sse-replay-limit
DEEP_DATA = 4000       # bytes: ~40 MB of history per channel
NON_READERS = 40


class ResyncMemoryTest(SseCase):

    def setUp(self):
        self.redis = self.start_redis()
        self.front = self.start_front(self.redis, "--sse-max-queue", "256k")

    def test_a_deep_resync_to_subscribers_that_never_read_keeps_memory_bounded(self):
        pid = self.front.pid
        target = "/sub/" + ",".join(DEEP_CHANNELS)
        clients = []
        for _ in range(NON_READERS):
            stream = SseStream(self.front.http_port, target, rcvbuf=4096, read_head=False)
            self.addCleanup(stream.close)
            clients.append(stream)
        self.wait_info("sse_subscribers", lambda n: n == NON_READERS, timeout=30.0)
        wait_subscribed(self.redis, *DEEP_CHANNELS)
        # The front knows no recorded id on these channels: the resync reads their whole history.
        with self.redis.client() as c:
            for channel in DEEP_CHANNELS:
                pipe = c.pipeline(transaction=False)
                for n in range(DEEP_ENTRIES):
                    head = f"{channel}:{n}:"
                    pipe.xadd(f"tempest:history:{channel}", {"e": "", "d": head + "x" * (DEEP_DATA - len(head))})
                pipe.execute()
        reset_peak(pid)
        rss_before = proc_status_kib(pid, "VmRSS")
        with self.redis.client() as c:
            self.assertGreaterEqual(c.execute_command("CLIENT", "KILL", "TYPE", "pubsub"), 1)
        # Every non-reader is cut off by the slow-subscriber rule (its queue passes 256k).
        self.wait_info("sse_slow_closed", lambda n: n == NON_READERS, timeout=60.0)
        self.wait_info("sse_subscribers", lambda n: n == 0, timeout=30.0)
        stable(lambda: self.front.info()["sse_replayed"], settle=2.0, message="the resync to stop")
        peak = proc_status_kib(pid, "VmHWM")
        growth_mib = (peak - rss_before) / 1024
        print(f"\n[rss] before {rss_before} KiB, peak {peak} KiB (+{growth_mib:.1f} MiB), "
              f"{self.front.info()['sse_replayed']} events resynced, {NON_READERS} non-readers")
        # 40 x 256 KiB of queue is 10 MiB; one channel's gap in one reply is ~40 MB of entries.
        self.assertLess(growth_mib, 45, "the front's peak RSS grew too much")


class ResyncLargeEntriesTest(SseCase):

    def setUp(self):
        self.redis = self.start_redis()
        self.front = self.start_front(self.redis, "--sse-max-queue", "256k")

    def test_the_first_page_of_large_entries_is_small(self):
        # Pages are sized from the entries seen; before any was seen, a page of entries of 1 MB
        # must not be hundreds of them (the page of a 256k queue at a guessed 512 bytes).
        pid = self.front.pid
        stream = SseStream(self.front.http_port, "/sub/rbig", rcvbuf=4096, read_head=False)
        self.addCleanup(stream.close)
        self.wait_info("sse_subscribers", lambda n: n == 1, timeout=30.0)
        wait_subscribed(self.redis, "rbig")
        with self.redis.client() as c:
            pipe = c.pipeline(transaction=False)
            for n in range(48):
                pipe.xadd("tempest:history:rbig", {"e": "", "d": f"{n}:" + "b" * (1 << 20)})
            pipe.execute()
        reset_peak(pid)
        rss_before = proc_status_kib(pid, "VmRSS")
        with self.redis.client() as c:
            self.assertGreaterEqual(c.execute_command("CLIENT", "KILL", "TYPE", "pubsub"), 1)
        self.wait_info("sse_slow_closed", lambda n: n == 1, timeout=60.0)
        self.wait_info("sse_subscribers", lambda n: n == 0, timeout=30.0)
        stable(lambda: self.front.info()["sse_replayed"], settle=2.0, message="the resync to stop")
        growth_mib = (proc_status_kib(pid, "VmHWM") - rss_before) / 1024
        print(f"\n[rss] large entries: peak +{growth_mib:.1f} MiB")
        # 48 MB of history; a page of a few entries is a few MB.
        self.assertLess(growth_mib, 30, "the front's peak RSS grew too much")
