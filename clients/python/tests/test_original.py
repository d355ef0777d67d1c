"""Jobs in the original 2012 format (../shared/ORIGINAL-PROTOCOL.md: [action, args, respond_to,
job_id] with only method, url, headers and body in the request) are served, in both modes, and
answered on the respond_to; endpoints that announce nothing must be in answer_allow."""

import json
import time
from unittest import mock

from fixtures import ClientCase, FakeEndpoint, job, wait_until

from tempest import Worker
from tempest.reliable import ReliableSource


class OriginalFormatTest(ClientCase):
    def test_2012_jobs_are_served(self):
        self.redis = self.redis_server()
        ep = FakeEndpoint()
        self.addCleanup(ep.close)
        c = self.redis.client()
        seen = []
        for n, mode in enumerate(("plain", "reliable")):
            w = Worker(redis=self.redis.url, mode=mode, answer_allow=[ep.address])

            @w.on("url")
            def h(req):
                seen.append((req.method, req.path, req.query, req.header("x-a"), req.body, req.priority, req.retry))
                return 200, {"Content-type": "text/plain", "Content-length": 2}, "ok"
            t = self.thread_worker(w)
            c.rpush("tempest", job("url", {"method": "POST", "url": "/a/b?x=1", "headers": {"x-a": "1"},
                                           "body": "data"}, ep.address, 40 + n))
            cmds = ep.wait_commands(n + 1)
            self.assertEqual(cmds[n][:2], [b"url", str(40 + n).encode()])
            self.assertEqual(json.loads(cmds[n][2]), [200, {"Content-type": "text/plain", "Content-length": "2"}, "ok"])
            w.stop()
            t.join(10)
        self.assertEqual(seen, [("POST", "/a/b", "x=1", "1", b"data", "normal", True)] * 2)

    def test_unannounced_endpoint_is_not_answered(self):
        self.redis = self.redis_server()
        ep = FakeEndpoint()
        self.addCleanup(ep.close)
        ran = []
        w = Worker(redis=self.redis.url, mode="plain")
        w.on("url", lambda req: ran.append(req) or (200, {}, "x"))
        self.thread_worker(w)
        self.redis.client().rpush("tempest", job("url", {"method": "GET", "url": "/"}, ep.address, 1))
        wait_until(lambda: w.untrusted_jobs == 1, message="the job dropped")
        self.assertEqual((ran, ep.commands), ([], []))
        # once the endpoint is announced in tempest:fronts it is answered
        t = self.redis.client().time()
        self.redis.client().zadd("tempest:fronts", {ep.address: t[0] * 1000 + 60000})
        self.redis.client().rpush("tempest", job("url", {"method": "GET", "url": "/"}, ep.address, 2))
        self.assertEqual(ep.wait_commands(1)[0][:2], [b"url", b"2"])


class BellLessFrontTest(ClientCase):
    def test_reliable_lane_watches_a_queue_that_gets_no_bell_tokens(self):
        """A 2012-style producer RPUSHes <queue> and rings no bell: after its first such job
        (past the 3 s grace) the lane keeps BLMOVE pending and takes the next at once."""
        self.redis = self.redis_server()
        ep = FakeEndpoint()
        self.addCleanup(ep.close)
        w = Worker(redis=self.redis.url, answer_allow=[ep.address])
        w.on("url", lambda req: (200, {}, "r"))
        grace = mock.patch.object(ReliableSource, "BELL_GRACE", 0.0)  # the lane's first 3 s: none here
        grace.start()
        self.addCleanup(grace.stop)
        self.thread_worker(w)
        c = self.redis.client()
        wait_until(lambda: c.scard("tempest:workers") == 1, message="the lane registered")
        sent = [0]

        def watching():
            # A job found at the end of a bell wait that timed out enables the watch; one pushed
            # just when the lane takes again is taken without a wait, so push until it is on.
            sent[0] += 1
            c.rpush("tempest", job("url", {"method": "GET", "url": "/w"}, ep.address, sent[0]))
            ep.wait_commands(sent[0], timeout=3)
            return wait_until(lambda: any(cl["cmd"] == "blmove" and "b" in cl["flags"] for cl in c.client_list()),
                              1.5, message="BLMOVE blocked")
        wait_until(watching, 15, interval=0, message="the lane to watch the queue")
        pushed = time.monotonic()
        c.rpush("tempest", job("url", {"method": "GET", "url": "/last"}, ep.address, 0))
        ep.wait_commands(sent[0] + 1, timeout=3)
        self.assertLess(time.monotonic() - pushed, 0.7, "woken by the watch, not the 1 s poll")
