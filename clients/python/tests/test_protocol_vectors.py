"""The shared protocol vectors (tests/protocol/, README.md there), read by this client so that it
cannot drift from the front and the other clients:
  requests.json  each vector's job decodes to the Request its handler must see; and sending its
                 HTTP bytes to the real front gives this client's handler that same Request
  answers.json   each answer a client can produce ("returns"), returned by a Python handler
                 through the real front, gives the recorded HTTP response; answers that are
                 invalid on purpose, returned by a handler, never reach the front as such (the
                 client drops bad headers and sends 500 for a bad status or body): no 502"""

import base64
import json
import os
import socket
import threading

from fixtures import REPO_DIR, ClientCase, http, wait_workers

from tempest import Worker
from tempest.codec import Request, decode_job

VECTORS = os.path.join(REPO_DIR, "tests", "protocol")


def load(name):
    with open(os.path.join(VECTORS, name), encoding="utf-8") as f:
        return json.load(f)["vectors"]


def seen(req):
    """What a handler sees of a request, minus the fields that change per run."""
    return {"method": req.method, "url": req.url, "path": req.path, "query": req.query, "headers": req.headers,
            "body": req.body, "has_body": req.has_body, "http_version": req.http_version, "priority": req.priority,
            "retry": req.retry}


def vector_request(v):
    return Request(decode_job(json.dumps(v["job"]).encode()))


def expected_body(o):
    return base64.b64decode(o["body_base64"]) if "body_base64" in o else o.get("body", "").encode()


class RequestVectorsTest(ClientCase):
    def test_jobs_decode_as_recorded(self):
        vectors = load("requests.json")
        self.assertGreater(len(vectors), 10)
        for v in vectors:
            with self.subTest(v["name"]):
                o = v["job"][1][0]
                req = vector_request(v)
                self.assertEqual((req.method, req.url, req.path, req.query), (o["method"], o["url"], o["path"], o["query"]))
                self.assertEqual(req.headers, o["headers"])
                if "body" not in o:
                    self.assertEqual((req.has_body, req.body), (False, b""))
                elif o.get("body_encoding") == "base64":
                    self.assertEqual(req.body, base64.b64decode(o["body"]))
                else:
                    self.assertEqual(req.body, o["body"].encode("utf-8"))
                self.assertEqual((req.priority, req.retry, req.deadline), (o["priority"], o["retry"], o["deadline"]))
                self.assertEqual((req.remote_addr, req.http_version), (o["remote_addr"], o["http_version"]))
                self.assertEqual((req.respond_to, req.job_id), (v["job"][2], v["job"][3]))

    def test_front_gives_the_handler_the_recorded_request(self):
        front = self.front()
        got, cond = [], threading.Condition()
        w = Worker(redis=self.redis.url)

        @w.on("url")
        def h(req):
            with cond:
                got.append(req)
                cond.notify_all()
            return 200, {}, "ok"
        self.thread_worker(w)
        wait_workers(self.redis, 1)
        for v in load("requests.json"):
            with self.subTest(v["name"]):
                raw = base64.b64decode(v["http_base64"]) if "http_base64" in v else v["http"].encode("utf-8")
                n = len(got)
                with socket.create_connection(("127.0.0.1", front.http_port), timeout=5) as s:
                    s.sendall(raw)
                    with cond:
                        self.assertTrue(cond.wait_for(lambda: len(got) > n, 5), "the handler got the request")
                    s.settimeout(5)
                    self.assertTrue(s.recv(100).startswith(b"HTTP/1."))
                self.assertEqual(seen(got[-1]), seen(vector_request(v)))


class AnswerVectorsTest(ClientCase):
    def test_returned_answers_give_the_recorded_responses(self):
        front = self.front()
        vectors = {v["name"]: v for v in load("answers.json")}
        w = Worker(redis=self.redis.url)

        @w.on("url")
        def h(req):
            v = vectors[req.path[1:]]
            if "returns" in v:
                r = v["returns"]
                body = base64.b64decode(r["body_base64"]) if "body_base64" in r else r.get("body")
                return r["status"], [tuple(p) for p in r["headers"]], body
            a = json.loads(v["wire"])  # invalid on purpose: returned as a handler might
            return tuple(a) if len(a) in (2, 3) else (a[0], {}, "")
        self.thread_worker(w)
        wait_workers(self.redis, 1)
        checked = 0
        for name, v in vectors.items():
            try:
                wire = json.loads(v["wire"])
            except ValueError:
                continue  # not JSON: nothing a handler returns
            if not isinstance(wire, list) or len(wire) < 2:
                continue
            with self.subTest(name):
                status, headers, body = http(front, "GET", "/" + name)
                if "returns" in v:
                    exp = v["http"]
                    self.assertEqual(status, exp["status"])
                    self.assertEqual([[n.lower(), val] for n, val in headers if n.lower() != "date"], exp["headers"])
                    self.assertEqual(body, expected_body(exp))
                    checked += 1
                else:
                    self.assertNotEqual(status, 502, "the client never sends an invalid answer")
        self.assertEqual(checked, sum(1 for v in vectors.values() if "returns" in v))
        self.assertGreater(checked, 5)
