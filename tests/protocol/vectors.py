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


# ---- streams.json (protocol.md 10) --------------------------------------------------------

def stream_arg(a, job_id):
    """A command argument of a stream vector: text with "$ID" for the job's id, or {"base64"}."""
    if isinstance(a, dict):
        return base64.b64decode(a["base64"])
    return a.replace("$ID", str(job_id)).encode("utf-8")


def reply_record(reply, job_id):
    """A RespConnection reply as a vector records it: "+OK", "-ERR ...", or a list of ids."""
    kind, value = reply
    if kind in "+-":
        return kind + value.replace(str(job_id), "$ID")
    if kind == "*":
        return [v.decode().replace(str(job_id), "$ID") for _, v in value]
    raise AssertionError(f"unexpected reply {reply!r}")


def read_stream_response(conn, head_only):
    """The response to a streamed job, tolerating a cut body: its http_result record plus
    "complete" (the framing ended properly) and "closed" (the front then closed the connection)."""
    from support.wire import ConnectionClosed, Response
    version, status, reason, headers = conn._read_head()
    resp = Response(version, status, reason, headers, b"")
    complete = True
    try:
        if head_only or status in (204, 304):
            pass
        elif (resp.header("transfer-encoding") or "").lower() == "chunked":
            while True:
                size = int(conn._read_line().split(b";")[0], 16)
                if size == 0:
                    while conn._read_line():
                        pass
                    break
                resp.body += conn._read_exact(size)
                conn._read_exact(2)
        elif resp.header("content-length") is not None:
            n = int(resp.header("content-length"))
            while len(resp.body) < n:
                resp.body += conn._read_exact(1)
        else:
            resp.body = conn._read_to_eof()
    except (ConnectionClosed, AssertionError, OSError):
        complete = False
    record = http_result(resp)
    record["complete"] = complete
    record["closed"] = not conn.is_open(wait=0.3)
    return record


def run_stream_vector(front, fake_worker, v):
    """Sends a stream vector's request, its commands for the job; returns (replies, http)."""
    from support.wire import RespConnection
    method, target, version = v["request"].split(" ")
    with HttpConnection(front.http_port) as conn:
        conn.send(f"{v['request']}\r\nHost: example.test\r\n\r\n".encode())
        job = fake_worker.take_job()
        host, _, port = job.respond_to.rpartition(":")
        with RespConnection(int(port)) as answers:
            replies = [reply_record(answers.command(*[stream_arg(a, job.job_id) for a in cmd]), job.job_id)
                       for cmd in v["commands"]]
        return replies, read_stream_response(conn, head_only=(method == "HEAD"))


# ---- uploads.json (protocol.md 11) --------------------------------------------------------

def load_doc(name):
    with open(os.path.join(HERE, name), encoding="utf-8") as f:
        return json.load(f)


def normalise_upload_job(payload, placeholder):
    """normalise_job, with body_file.path replaced by the uploads placeholder."""
    job = normalise_job(payload)
    req = job[1][0]
    if "body_file" in req:
        req["body_file"] = dict(req["body_file"], path=placeholder)
    return job


def file_content_record(data):
    try:
        return {"content": data.decode("utf-8")}
    except UnicodeDecodeError:
        return {"content_base64": base64.b64encode(data).decode()}
