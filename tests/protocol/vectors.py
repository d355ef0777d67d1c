"""Reading, sending and comparing the protocol test vectors (README.md in this folder).

Used by tests/integration/test_protocol_vectors.py (the front still matches the files) and by
capture.py (regenerates their outputs). Clients in other languages read the JSON files directly.
"""
import base64
import json
import os

import redis as redis_py

from support.harness import HttpConnection

HERE = os.path.dirname(os.path.abspath(__file__))



def _placeholders():
    """The fields of a job that change with every run, and what requests.json holds instead."""
    with open(os.path.join(HERE, "requests.json"), encoding="utf-8") as f:
        return json.load(f)["placeholders"]


PLACEHOLDERS = _placeholders()


def load(name):
    with open(os.path.join(HERE, name), encoding="utf-8") as f:
        return json.load(f)["vectors"]


def save(name, items):
    path = os.path.join(HERE, name)
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    doc["vectors"] = items
    with open(path, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=2, ensure_ascii=False)
        f.write("\n")


def request_bytes(v):
    """The HTTP bytes of a request vector: "http" (text, sent as UTF-8) or "http_base64"."""
    return base64.b64decode(v["http_base64"]) if "http_base64" in v else v["http"].encode("utf-8")


def normalise_job(payload):
    """The job with its per-run fields replaced by PLACEHOLDERS."""
    action, args, _, _ = payload
    req = dict(args[0])
    for k in ("remote_addr", "deadline"):
        if k in req:
            req[k] = PLACEHOLDERS[k]
    return [action, [req], PLACEHOLDERS["respond_to"], PLACEHOLDERS["job_id"]]


def send_request(front, fake_worker, v):
    """Sends a request vector to the front; returns the Job it pushed (not yet answered)."""
    conn = HttpConnection(front.http_port)
    try:
        conn.send(request_bytes(v))
        return fake_worker.take_job()
    finally:
        conn.close()


def send_answer(front, fake_worker, wire):
    """Sends GET /answer-vector, answers its job with `url <id> <wire>`; returns (reply, Response)."""
    with HttpConnection(front.http_port) as conn:
        conn.send(b"GET /answer-vector HTTP/1.1\r\nHost: example.test\r\n\r\n")
        job = fake_worker.take_job()
        try:
            r = job.answer_raw(wire)
            reply = "+" + (r.decode() if isinstance(r, bytes) else str(r))
        except redis_py.ResponseError as e:
            reply = "-ERR " + str(e)  # redis-py drops the ERR prefix
        return reply, conn.read_response()


def http_result(resp):
    """What a vector records of a response: status, headers (lower-case; Date left out), body."""
    out = {"status": resp.status,
           "headers": [[n, v] for n, v in resp.headers if n != "date"]}
    try:
        out["body"] = resp.body.decode("utf-8")
    except UnicodeDecodeError:
        out["body_base64"] = base64.b64encode(resp.body).decode()
    return out


def response_body(expected):
    """The body bytes an "http" record expects."""
    if "body_base64" in expected:
        return base64.b64decode(expected["body_base64"])
    return expected.get("body", "").encode("utf-8")
