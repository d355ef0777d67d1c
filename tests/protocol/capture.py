#!/usr/bin/python3
"""Regenerates the "job" and "http" parts of requests.json and answers.json from the real front.

    cd tests && /usr/bin/python3 -m protocol.capture      (TEMPEST_BUILD_DIR as for the tests)

The inputs (the HTTP bytes of each request vector, the answer of each answer vector) are the
files' own; this script starts a redis-server and a front, sends each input, and writes what the
front pushed or answered. Review the diff (git diff tests/protocol/) before committing: the
vectors are the contract every client tests against, and tests/integration/test_protocol_vectors.py
checks that the front still matches them.
"""
import sys

from support.harness import FakeWorker, Front, RedisServer
from protocol import vectors


def main():
    redis = RedisServer.start()
    front = Front.start(redis, "--timeout", "10s")
    try:
        reqs = vectors.load("requests.json")
        for v in reqs:
            print("request", v["name"], file=sys.stderr)
            job = vectors.send_request(front, FakeWorker(redis), v)
            v["job"] = vectors.normalise_job(job.payload)
            job.answer([200, {}, ""])
        vectors.save("requests.json", reqs)
        answers = vectors.load("answers.json")
        for v in answers:
            v["reply"], resp = vectors.send_answer(front, FakeWorker(redis), v["wire"])
            v["http"] = vectors.http_result(resp)
        vectors.save("answers.json", answers)
        streams = vectors.load("streams.json")
        for v in streams:
            print("stream", v["name"], file=sys.stderr)
            v["replies"], v["http"] = vectors.run_stream_vector(front, FakeWorker(redis), v)
        vectors.save("streams.json", streams)
    finally:
        front.stop()
    capture_uploads(redis)
    redis.stop()


def capture_uploads(redis):
    doc = vectors.load_doc("uploads.json")
    front = Front.start(redis, "--timeout", "10s", *doc["front_flags"])
    try:
        items = doc["vectors"]
        for v in items:
            print("upload", v["name"], file=sys.stderr)
            job = vectors.send_request(front, FakeWorker(redis), v)
            v["job"] = vectors.normalise_upload_job(job.payload, doc["placeholders"]["path"])
            v.pop("content", None)
            v.pop("content_base64", None)
            if "body_file" in job.request:
                with open(job.request["body_file"]["path"], "rb") as f:
                    v.update(vectors.file_content_record(f.read()))
            job.answer([200, {}, ""])
        vectors.save("uploads.json", items)
    finally:
        front.stop()


if __name__ == "__main__":
    sys.exit(main())
