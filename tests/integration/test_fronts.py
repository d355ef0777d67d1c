"""Several fronts, several front threads, front restarts: every answer must reach the request
it belongs to, and no job id can be answered by mistake after a restart.
"""

import json
from concurrent.futures import ThreadPoolExecutor

import redis as redis_py

from support.harness import (LOOPBACK, FakeWorker, HttpConnection, TempestCase, free_port,
                             http_request)


def fire(requests, workers=8):
    """Runs http_request(port, "GET", url) for each (port, url) concurrently; returns the
    (port, url, Response or exception) triples."""
    def one(item):
        port, url = item
        try:
            return port, url, http_request(port, "GET", url, timeout=10)
        except Exception as e:  # noqa: BLE001 - reported by the caller's assertion
            return port, url, e
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(one, requests))


class SharedQueueTest(TempestCase):

    def test_two_fronts_one_queue_every_answer_finds_its_request(self):
        redis = self.start_redis()
        fronts = [self.start_front(redis, "--timeout", "10s") for _ in range(2)]
        for _ in range(2):
            self.start_worker("echo_worker", redis)
        requests = [(fronts[i % 2].http_port, f"/req/{i}?front={i % 2}&n={i}")
                    for i in range(80)]
        results = fire(requests)
        for port, url, resp in results:
            with self.subTest(url=url):
                self.assertNotIsInstance(resp, Exception, f"{url}: {resp!r}")
                self.assertEqual(resp.status, 200, resp)
                self.assertEqual(resp.json()["url"], url)
        pushed = [f.info()["jobs_pushed"] for f in fronts]
        self.assertEqual(pushed, [40, 40])

    def test_threads_each_have_an_answer_endpoint_and_route_answers(self):
        redis = self.start_redis()
        front = self.start_front(redis, "--timeout", "10s", "--threads", "2")
        self.assertEqual(len(front.answer_ports), 2, front.ready)
        self.assertEqual(len(set(front.answer_ports)), 2, front.ready)
        for i in range(2):
            with front.answer_client(i) as c:
                self.assertTrue(c.ping())
        for _ in range(2):
            self.start_worker("echo_worker", redis)
        results = fire([(front.http_port, f"/threads/{i}") for i in range(60)])
        for _, url, resp in results:
            with self.subTest(url=url):
                self.assertNotIsInstance(resp, Exception, f"{url}: {resp!r}")
                self.assertEqual(resp.json()["url"], url)

    def test_jobs_of_threads_carry_their_threads_endpoint(self):
        redis = self.start_redis()
        front = self.start_front(redis, "--timeout", "5s", "--threads", "2")
        addresses = set(front.answer_addresses)
        worker = FakeWorker(redis)
        conns = [HttpConnection(front.http_port) for _ in range(6)]
        try:
            for i, conn in enumerate(conns):
                conn.request("GET", f"/t/{i}")
            jobs = [worker.take_job() for _ in conns]
            for job in jobs:
                self.assertIn(job.respond_to, addresses)
                self.assertEqual(job.answer([200, {}, job.request["url"]]), b"OK")
            for i, conn in enumerate(conns):
                self.assertEqual(conn.read_response().body, f"/t/{i}".encode())
        finally:
            for conn in conns:
                conn.close()


class RestartTest(TempestCase):

    def test_job_ids_stay_unique_across_a_restart_on_the_same_answer_port(self):
        redis = self.start_redis()
        answer_address = f"{LOOPBACK}:{free_port()}"
        worker = FakeWorker(redis)

        first = self.start_front(redis, "--timeout", "5s", "--shutdown-timeout", "1s",
                                 answer_listen=answer_address)
        with HttpConnection(first.http_port) as conn:
            conn.request("GET", "/first")
            answered = worker.take_job()
            answered.answer([200, {}, "first"])
            self.assertEqual(conn.read_response().body, b"first")
        with HttpConnection(first.http_port) as conn:
            conn.request("GET", "/left-pending")
            pending = worker.take_job()
        self.assertEqual(answered.respond_to, answer_address)
        first.stop(timeout=6)

        second = self.start_front(redis, "--timeout", "5s", answer_listen=answer_address)
        self.assertEqual(second.answer_addresses, [answer_address])
        with HttpConnection(second.http_port) as conn:
            conn.request("GET", "/second")
            fresh = worker.take_job()
            self.assertEqual(fresh.respond_to, answer_address)
            self.assertGreater(fresh.job_id, max(answered.job_id, pending.job_id))
            for old in (answered, pending):
                with self.subTest(old_job_id=old.job_id):
                    with self.assertRaises(redis_py.ResponseError):
                        old.answer([200, {}, "stale"])
            self.assertEqual(fresh.answer([200, {}, "second"]), b"OK")
            resp = conn.read_response()
        self.assertEqual((resp.status, resp.body), (200, b"second"))

    def test_job_ids_are_unique_within_a_front(self):
        redis = self.start_redis()
        front = self.start_front(redis, "--timeout", "5s")
        worker = FakeWorker(redis)
        ids = []
        for i in range(20):
            with HttpConnection(front.http_port) as conn:
                conn.request("GET", f"/id/{i}")
                job = worker.take_job()
                ids.append(job.job_id)
                job.answer_raw(json.dumps([200, {}, ""]))
                self.assertEqual(conn.read_response().status, 200)
        self.assertEqual(len(set(ids)), len(ids), ids)
