"""The wire format on the worker's side (docs/protocol.md sections 1 and 2): decoding jobs and
HTTP requests, encoding answers. No I/O. Mirrors src/worker/job_codec.cpp; if you change one,
change the other.

    job = decode_job(payload_bytes)              # Job or raises BadJob
    req = Request.from_job(job, probe)           # the "url" request object (1.3); 2012 jobs too
    encode_url_answer(200, {"a": "b"}, b"...")   # -> JSON bytes [status, headers, body] (2.2)
"""

import base64
import json
import re
import time
import urllib.parse

_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_BAD_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


class BadJob(ValueError):
    pass


def now_ms():
    return int(time.time() * 1000)


class Job:
    """A job of any action: [action, args, respond_to, job_id] (1.2)."""

    __slots__ = ("action", "args", "respond_to", "id", "payload")

    def __init__(self, action, args, respond_to, job_id, payload=b""):
        self.action = action          # "url" for HTTP requests
        self.args = args              # a list
        self.respond_to = respond_to  # "host:port", or None: no answer wanted
        self.id = job_id              # int, echoed in the answer
        self.payload = payload        # the job's bytes exactly as queued

    def request_object(self):
        if self.args and isinstance(self.args[0], dict):
            return self.args[0]
        return None

    def deadline_passed(self, now=None):
        """A "url" job whose deadline (unix ms) has passed: nobody waits (8.5)."""
        o = self.request_object() if self.action == "url" else None
        d = o.get("deadline") if o else None
        if not isinstance(d, (int, float)) or isinstance(d, bool):
            return False
        return d < (now_ms() if now is None else now)


def decode_job(payload):
    try:
        v = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as e:
        raise BadJob(f"not JSON ({e})") from None
    if not isinstance(v, list) or len(v) < 4:
        raise BadJob("a job is a JSON array [action, args, respond_to, job_id]")
    action, args, respond_to, job_id = v[0], v[1], v[2], v[3]
    if not isinstance(action, str) or not action:
        raise BadJob("the action (item 0) is not a non-empty string")
    if not isinstance(args, list):
        raise BadJob("the args (item 1) are not an array")
    if respond_to is not None and not isinstance(respond_to, str):
        raise BadJob("respond_to (item 2) is neither a string nor null")
    if isinstance(job_id, float) and job_id.is_integer() and abs(job_id) <= 2 ** 53:
        job_id = int(job_id)  # 42.0 from encoders that only know doubles
    if not isinstance(job_id, int) or isinstance(job_id, bool):
        raise BadJob("the job id (item 3) is not an integer")
    return Job(action, args, respond_to or None, job_id, payload)


class Request:
    """The HTTP request of a "url" job (1.3), as a handler sees it.

    method, url (target as received), path (normalised, 1.7; for a 2012 job the url before
    '?'), query, headers (dict, lower-case names), body (bytes, b"" when none), has_body,
    remote_addr, http_version, priority ("high"/"normal"/"low"), deadline (unix ms or None),
    retry (bool: re-delivery after a worker death is safe), job_id, respond_to;
    header(name), query_param(name), cancelled()."""

    def __init__(self, job, probe=None):
        o = job.request_object()
        if o is None:
            raise BadJob("the args of a url job are not [ {request object} ]")
        self.job = job
        self.job_id = job.id
        self.respond_to = job.respond_to
        self.method = _text(o, "method")
        self.url = _text(o, "url")
        if not self.method:
            raise BadJob("the request has no method")
        if not self.url:
            raise BadJob("the request has no url")
        h = o.get("headers") or {}
        if not isinstance(h, dict):
            raise BadJob("headers is not an object")
        self.headers = {str(k).lower(): v for k, v in h.items() if isinstance(v, str)}
        # The original front sent only method, url, headers and body: derive path and query.
        before, sep, after = self.url.partition("?")
        self.path = _text(o, "path") if isinstance(o.get("path"), str) else before
        self.query = _text(o, "query") if isinstance(o.get("query"), str) else after
        body = o.get("body")
        self.has_body = isinstance(body, str)
        if not self.has_body:
            self.body = b""
        elif o.get("body_encoding") is not None:
            if o.get("body_encoding") != "base64":
                raise BadJob('unknown body_encoding (only "base64")')
            try:
                self.body = base64.b64decode(body, validate=True)
            except ValueError:
                raise BadJob("the body is not valid base64") from None
        else:
            self.body = body.encode("utf-8", "surrogatepass")
        self.remote_addr = _text(o, "remote_addr")
        self.http_version = _text(o, "http_version") or "1.1"
        p = o.get("priority")
        self.priority = p if p in ("high", "normal", "low") else "normal"
        d = o.get("deadline")
        self.deadline = int(d) if isinstance(d, (int, float)) and not isinstance(d, bool) else None
        self.retry = o.get("retry") is not False
        self._probe = probe

    def header(self, name, default=None):
        return self.headers.get(name.lower(), default)

    def query_param(self, name, default=None):
        """The first query parameter of that name, percent-decoded ('+' is a space)."""
        for key, value in urllib.parse.parse_qsl(self.query, keep_blank_values=True):
            if key == name:
                return value
        return default

    @property
    def text(self):
        """The body decoded as UTF-8 (errors replaced)."""
        return self.body.decode("utf-8", "replace")

    def json(self):
        return json.loads(self.body)

    def cancelled(self):
        """True when nobody waits for this answer any more: the deadline passed, or the front
        cancelled the job (the client went away: tempest:cancelled, 8.5; one Redis round trip)."""
        if self.deadline is not None and now_ms() > self.deadline:
            return True
        return bool(self._probe and self.respond_to and self._probe(self.respond_to, self.job_id))

    def __repr__(self):
        return f"<Request {self.method} {self.url} job {self.job_id}>"


def _text(o, key):
    v = o.get(key)
    if v is None:
        return ""
    if not isinstance(v, str):
        raise BadJob(f"the request field {key!r} is not a string")
    return v


def header_pairs(headers):
    """(name, value) pairs from a dict (values: str, number, or a list of them) or a list of pairs."""
    items = headers.items() if isinstance(headers, dict) else headers
    for name, value in items:
        if isinstance(value, (list, tuple)):
            for v in value:
                yield str(name), v
        else:
            yield str(name), value


def valid_header(name, value):
    return bool(_TOKEN.match(name)) and not _BAD_VALUE.search(value)


def encode_body(body):
    """A body as the answer's third item: str as is, bytes as UTF-8 text when they are, else
    {"base64": ...}; None is an empty body."""
    if body is None:
        return ""
    if isinstance(body, str):
        return body
    if not isinstance(body, (bytes, bytearray, memoryview)):
        raise TypeError(f"a body is str, bytes or None, not {type(body).__name__}")
    body = bytes(body)
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(body).decode("ascii")}


def encode_url_answer(status, headers=None, body=None):
    """The JSON bytes of [status, headers, body] (2.2) and how many invalid headers were dropped.
    A status outside 200..599 is sent as 500; repeated names become arrays (set-cookie)."""
    try:
        status = int(status)
    except (TypeError, ValueError):
        status = 500
    if not 200 <= status <= 599:
        status = 500
    out, names, dropped = {}, {}, 0
    for name, value in header_pairs(headers or {}):
        if isinstance(value, bool) or value is None:
            dropped += 1
            continue
        value = str(value) if isinstance(value, (int, float)) else value
        if isinstance(value, bytes):
            value = value.decode("latin-1")
        if not isinstance(value, str) or not valid_header(name, value):
            dropped += 1
            continue
        key = names.setdefault(name.lower(), name)
        if key in out:
            prev = out[key]
            out[key] = (prev if isinstance(prev, list) else [prev]) + [value]
        else:
            out[key] = value
    return dumps([status, out, encode_body(body)]), dropped


def dumps(value):
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "surrogatepass")


INTERNAL_ERROR = (500, {"Content-Type": "text/plain"}, "Internal Server Error\n")
BAD_REQUEST = (400, {"Content-Type": "text/plain"}, "Bad Request\n")
NOT_IMPLEMENTED = (501, {}, "Not Implemented\n")
ERROR_ANSWER = dumps({"error": "internal error"})  # another action's handler failed


def unsafe_retry_answer(action):
    """The reaper's answer for a job not safe to retry (src/core/queue/entry.cpp)."""
    if action == "url":
        return dumps([502, {"Content-Type": "text/plain"},
                      "the worker handling this request died; it is not safe to retry"])
    return dumps({"error": "the worker handling this job died; it is not safe to retry"})
