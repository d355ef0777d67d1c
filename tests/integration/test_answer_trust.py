"""Where workers answer (docs/protocol.md 3.5, docs/security.md): fronts announce their answer
endpoints in the Redis sorted set tempest:fronts, and the C++ worker library answers only
announced endpoints or those of --answer-allow. A job naming any other respond_to is dropped
before its handler runs (worker::untrusted_jobs(), read through echo_worker's /worker-stats):
no connection, no AUTH with the answer password, no stall of the worker on a listener that
accepts and never replies.
"""

import json
import os
import subprocess
import time

from support.harness import BUILD_DIR, SilentListener, TempestCase, http_request, wait_until

from integration.test_reliable import FakeFront, make_job


def worker_stats(front):
    resp = http_request(front.http_port, "GET", "/worker-stats", timeout=10)
    assert resp.status == 200, resp
    return json.loads(resp.body)


def redis_time_ms(client):
    seconds, micros = client.time()
    return seconds * 1000 + micros // 1000


class Announcement(TempestCase):

    def test_front_announces_each_endpoint_and_withdraws_at_a_clean_stop(self):
        redis = self.start_redis()
        r = redis.client()
        front = self.start_front(redis, "--threads", "2", "--announce-interval", "300ms")
        self.assertEqual(len(front.answer_addresses), 2)
        for address in front.answer_addresses:
            score = wait_until(lambda: r.zscore("tempest:fronts", address), 5,
                               message=f"{address} in tempest:fronts")
            # Valid three intervals from Redis's clock (a little less by now).
            self.assertLessEqual(score - redis_time_ms(r), 900 + 50)
            self.assertGreater(score - redis_time_ms(r), 0)
        # Refreshed: the score moves forward.
        first = r.zscore("tempest:fronts", front.answer_addresses[0])
        wait_until(lambda: r.zscore("tempest:fronts", front.answer_addresses[0]) > first, 5,
                   message="a refreshed announcement")
        # Gone with Redis (FLUSHALL stands for a restart): back within an interval.
        r.flushall()
        wait_until(lambda: r.zscore("tempest:fronts", front.answer_addresses[1]), 5,
                   message="the announcement back after FLUSHALL")
        self.assertEqual(front.stop(), 0)
        self.assertEqual(r.zrange("tempest:fronts", 0, -1), [])

    def test_expired_announcements_of_dead_fronts_are_pruned(self):
        redis = self.start_redis()
        r = redis.client()
        r.zadd("tempest:fronts", {"127.0.0.1:1": redis_time_ms(r) - 1000})
        front = self.start_front(redis, "--announce-interval", "200ms")
        wait_until(lambda: r.zrange("tempest:fronts", 0, -1) == [front.answer_addresses[0].encode()],
                   5, message="only the live front announced")


class AnswerTrust(TempestCase):

    def setUp(self):
        self.redis = self.start_redis()
        self.r = self.redis.client()
        self.silent = SilentListener()
        self.addCleanup(self.silent.close)

    def test_unannounced_listener_is_never_contacted_and_other_jobs_are_answered(self):
        front = self.start_front(self.redis, "--timeout", "20s")
        worker = self.start_worker("echo_worker", self.redis, "tempest", "--batch", "1",
                                   "--answer-password", "sekret")
        # Jobs naming a listener that accepts and never replies, before and between real ones.
        self.r.rpush("tempest", *[make_job(self.silent.address, 1000 + i) for i in range(5)])
        self.r.rpush("tempest:bell", *["1"] * 5)
        started = time.monotonic()
        for i in range(5):
            self.r.rpush("tempest", make_job(self.silent.address, 2000 + i))
            resp = http_request(front.http_port, "GET", f"/real/{i}", timeout=20)
            self.assertEqual(resp.status, 200, resp)
            self.assertEqual(json.loads(resp.body)["url"], f"/real/{i}")
        elapsed = time.monotonic() - started
        self.assertEqual(self.silent.accepted, 0, "the worker connected to an unannounced address")
        self.assertEqual(self.silent.received, b"")  # no AUTH sekret, no answer
        # Before: the first silent job cost the lane 5 s (AUTH without a reply), and it tried
        # again every second. Now nothing waits on it.
        self.assertLess(elapsed, 5.0, f"5 requests took {elapsed:.1f}s")
        stats = wait_until(lambda: (s := worker_stats(front))["untrusted_jobs"] >= 10 and s, 5,
                           message="10 untrusted jobs counted")
        self.assertEqual(stats["untrusted_jobs"], 10)
        self.assertTrue(worker.alive())

    def test_an_announced_endpoint_that_never_replies_costs_one_timeout_not_two(self):
        # A hung front (or a listener someone announced): the worker connects, writes the
        # answer, waits its 5 s answer timeout, then leaves the endpoint alone; it used to
        # reconnect at once and resend, waiting a second time.
        self.r.zadd("tempest:fronts", {self.silent.address: redis_time_ms(self.r) + 3600_000})
        front = self.start_front(self.redis, "--timeout", "30s")
        self.start_worker("echo_worker", self.redis, "tempest", "--batch", "1")
        self.r.rpush("tempest", make_job(self.silent.address, 1))
        self.r.rpush("tempest:bell", "1")
        wait_until(lambda: self.silent.accepted >= 1 and b"url" in self.silent.received, 10,
                   message="the answer at the silent endpoint")
        resp = http_request(front.http_port, "GET", "/after", timeout=30)
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual(self.silent.accepted, 1, "the worker reconnected to a hung endpoint")

    def test_allow_list_answers_a_front_that_announces_nothing(self):
        fake = FakeFront()  # a RESP answer endpoint that announces nothing, like the 2012 front
        self.addCleanup(fake.close)
        front = self.start_front(self.redis)  # announced: for /worker-stats
        allowed = self.start_worker("echo_worker", self.redis, "allowed", "--answer-allow",
                                    f"127.0.0.1:1, {fake.address}")
        self.r.rpush("allowed", make_job(fake.address, 7, "/old-front"))
        answer = wait_until(lambda: fake.answer_for(7), 10, message="the answer at the fake front")
        self.assertEqual(answer[0], 200)
        self.assertEqual(json.loads(answer[2])["url"], "/old-front")
        self.assertTrue(allowed.alive())

        # Without the option, the same job is dropped and counted (and the fake gets nothing).
        self.start_worker("echo_worker", self.redis, "tempest")
        self.r.rpush("tempest", make_job(fake.address, 8, "/old-front"))
        self.r.rpush("tempest:bell", "1")
        wait_until(lambda: worker_stats(front)["untrusted_jobs"] == 1, 10,
                   message="the unannounced job counted")
        self.assertIsNone(fake.answer_for(8))

    def test_bad_allow_list_is_refused_at_start(self):
        result = subprocess.run([os.path.join(BUILD_DIR, "examples", "echo_worker"), "--redis",
                                 self.redis.url, "--answer-allow", "127.0.0.1:80,nope"],
                                capture_output=True, text=True, timeout=10)
        self.assertEqual(result.returncode, 2, result.stderr)
        self.assertIn("answer-allow", result.stderr)

    def test_reaper_sends_no_502_to_an_unannounced_address(self):
        # A job not safe to retry whose worker dies is answered 502 by the reaper: only where
        # a front announced it (or the allow list says). The worker holds both jobs in one batch
        # and dies in the first one, before it looked at the second.
        fake = FakeFront()
        self.addCleanup(fake.close)
        self.r.rpush("tempest", make_job(fake.address, 78, "/sleep", "ms=30000", method="POST",
                                         retry=False))
        self.r.rpush("tempest", make_job(self.silent.address, 77, "/sleep", "ms=30000",
                                         method="POST", retry=False))
        flags = ("--heartbeat-ttl", "1000ms", "--batch", "2", "--answer-allow", fake.address)
        a = self.start_worker("echo_worker", self.redis, "tempest", *flags)
        wait_until(lambda: len([e for k in self.r.keys(f"tempest:processing:*:{a.pid}:*")
                                for e in self.r.lrange(k, 0, -1) if not e.startswith(b"\0")]) == 2, 5,
                   message="the worker holding both jobs")
        self.start_worker("echo_worker", self.redis, "tempest", *flags)
        a.kill()
        answer = wait_until(lambda: fake.answer_for(78), 10, message="the 502 at the allowed address")
        self.assertEqual(answer[0], 502)
        self.assertEqual(self.silent.accepted, 0)


if __name__ == "__main__":
    import unittest
    unittest.main()
