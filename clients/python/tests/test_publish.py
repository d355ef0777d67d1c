"""publish(channel, data, event) reaches a Server-Sent Events subscriber at /sub/<channel> and
is recorded in the channel's history (docs/protocol.md 7.4-7.6, history.lua)."""

import json

from fixtures import ClientCase, SseClient, http, wait_until, wait_workers

from tempest import Publisher, Worker


class PublishTest(ClientCase):
    def test_publish_from_a_handler_reaches_the_subscriber_and_history(self):
        front = self.front()
        w = Worker(redis=self.redis.url)

        @w.on("url")
        def h(req):
            entry = w.publish("news", req.body.decode(), event="said" if req.query == "named" else None)
            return 200, {}, entry
        self.thread_worker(w)
        wait_workers(self.redis, 1)
        sub = SseClient(front, "/sub/news")
        self.addCleanup(sub.close)
        self.assertEqual(sub.status, 200)
        c = self.redis.client()
        wait_until(lambda: c.pubsub_numsub("news")[0][1] == 1, message="the front to subscribe")
        status, _, first_id = http(front, "POST", "/say", body="héllo\nworld".encode())
        self.assertEqual(status, 200)
        ev = sub.next_event()
        self.assertEqual(ev["data"], "héllo\nworld")
        self.assertNotIn("event", ev)
        self.assertEqual(ev["id"], f"news={first_id.decode()}")
        _, _, second_id = http(front, "POST", "/say?named", body=b"two")
        ev = sub.next_event()
        self.assertEqual((ev.get("event"), ev["data"]), ("said", "two"))
        history = c.xrange("tempest:history:news")
        self.assertEqual([(i.decode(), f[b"e"], f[b"d"].decode()) for i, f in history],
                         [(first_id.decode(), b"", "héllo\nworld"), (second_id.decode(), b"said", "two")])
        # a client resuming from 0 gets the history replayed
        again = SseClient(front, "/sub/news", headers={"Last-Event-ID": "news=0"})
        self.addCleanup(again.close)
        self.assertEqual([again.next_event()["data"] for _ in range(2)], ["héllo\nworld", "two"])

    def test_publisher_checks_and_live_only(self):
        self.redis = self.redis_server()
        p = Publisher(self.redis.url)
        self.addCleanup(p.close)
        with self.assertRaises(ValueError):
            p.publish("bad channel", "x")
        with self.assertRaises(ValueError):
            p.publish("ok", "x", event="a\nb")
        c = self.redis.client()
        ps = c.pubsub()
        ps.subscribe("live")
        wait_until(lambda: ps.get_message(timeout=0.1), message="subscribed")
        live = Publisher(self.redis.url, history_count=0)
        self.addCleanup(live.close)
        self.assertEqual(live.publish("live", {"k": 1}, event="e"), "")
        msg = wait_until(lambda: ps.get_message(timeout=0.1), message="the live message")
        self.assertEqual(json.loads(msg["data"]), ["e", '{"k":1}'])
        self.assertEqual(c.exists("tempest:history:live"), 0)
        ps.close()
