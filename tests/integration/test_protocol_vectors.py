"""The front still matches the shared protocol vectors (tests/protocol/README.md): for each
request vector, the job it pushes; for each answer vector, the endpoint's reply and the HTTP
response. The clients in clients/<language>/ test themselves against the same files."""
import base64
import json
import unittest

from protocol import vectors
from support.harness import FakeWorker, TempestCase


class ProtocolVectorsTest(TempestCase):
    @classmethod
    def setUpClass(cls):
        cls.redis = cls.start_redis_for_class()
        cls.front = cls.start_front_for_class(cls.redis, "--timeout", "10s")

    def test_each_request_becomes_the_job_of_its_vector(self):
        items = vectors.load("requests.json")
        self.assertGreaterEqual(len(items), 10)
        for v in items:
            with self.subTest(v["name"]):
                job = vectors.send_request(self.front, FakeWorker(self.redis), v)
                try:
                    self.assertEqual(vectors.normalise_job(job.payload), v["job"])
                    req = job.request
                    self.assertEqual(job.respond_to, self.front.answer_addresses[0])
                    self.assertTrue(req["remote_addr"].startswith("127.0.0.1:"))
                    self.assertGreater(req["deadline"], 0)
                finally:
                    job.answer([200, {}, ""])

    def test_each_answer_gives_the_reply_and_response_of_its_vector(self):
        items = vectors.load("answers.json")
        self.assertGreaterEqual(len(items), 10)
        for v in items:
            with self.subTest(v["name"]):
                reply, resp = vectors.send_answer(self.front, FakeWorker(self.redis), v["wire"])
                if v["reply"] == "+OK":
                    self.assertEqual(reply, "+OK")
                else:
                    self.assertTrue(reply.startswith("-ERR invalid answer"), reply)
                    self.assertTrue(v["reply"].startswith("-ERR invalid answer"), v["reply"])
                    self.assertEqual(resp.status, 502)
                self.assertEqual(vectors.http_result(resp), v["http"])

    def test_returns_forms_describe_the_same_response_as_their_wire(self):
        # "returns" is what a client's handler gives back; it must mean the wire's answer.
        for v in vectors.load("answers.json"):
            if "returns" not in v:
                continue
            with self.subTest(v["name"]):
                wire = json.loads(v["wire"])
                r = v["returns"]
                self.assertEqual(int(wire[0]), r["status"])
                self.assertEqual(r["status"], v["http"]["status"])
                body = base64.b64decode(r["body_base64"]) if "body_base64" in r else r["body"].encode()
                self.assertEqual(body, vectors.response_body(v["http"]))
                sent = {n.lower() for n, _ in r["headers"]}
                got = {n for n, _ in v["http"]["headers"]}
                self.assertLessEqual(sent, got)


    def test_each_stream_gives_the_replies_and_response_of_its_vector(self):
        items = vectors.load("streams.json")
        self.assertGreaterEqual(len(items), 10)
        for v in items:
            with self.subTest(v["name"]):
                replies, http = vectors.run_stream_vector(self.front, FakeWorker(self.redis), v)
                self.assertEqual(replies, v["replies"])
                self.assertEqual(http, v["http"])

    def test_stream_returns_forms_describe_the_same_response(self):
        # "returns" is what a client's handler does: stream(status, headers), write each, return.
        for v in vectors.load("streams.json"):
            if "returns" not in v:
                continue
            with self.subTest(v["name"]):
                r = v["returns"]
                head = json.loads(v["commands"][0][2])
                self.assertEqual(head[0], r["status"])
                self.assertEqual(sorted(head[1].items()), sorted(tuple(h) for h in r["headers"]))
                writes = b"".join(vectors.stream_arg(w, 0) for w in r["writes"])
                self.assertEqual(writes, vectors.response_body(v["http"]))


class UploadVectorsTest(TempestCase):
    @classmethod
    def setUpClass(cls):
        cls.doc = vectors.load_doc("uploads.json")
        cls.redis = cls.start_redis_for_class()
        cls.front = cls.start_front_for_class(cls.redis, "--timeout", "10s", *cls.doc["front_flags"])

    def test_each_upload_becomes_the_job_and_file_of_its_vector(self):
        items = self.doc["vectors"]
        self.assertGreaterEqual(len(items), 4)
        for v in items:
            with self.subTest(v["name"]):
                job = vectors.send_request(self.front, FakeWorker(self.redis), v)
                try:
                    self.assertEqual(vectors.normalise_upload_job(job.payload, self.doc["placeholders"]["path"]),
                                     v["job"])
                    if "body_file" in job.request:
                        with open(job.request["body_file"]["path"], "rb") as f:
                            self.assertEqual(vectors.file_content_record(f.read()),
                                             {k: v[k] for k in ("content", "content_base64") if k in v})
                finally:
                    job.answer([200, {}, ""])


if __name__ == "__main__":
    unittest.main()
