"""The WSGI gateway: serves any WSGI application (PEP 3333) as a Tempest worker.

    python3 -m tempest.wsgi module:app --queue web [--redis URL] [--mode plain] [--concurrency N]
    python3 -m tempest.wsgi myproject.wsgi:application --script-name /app

In code:  tempest.wsgi.serve(app, Worker(...))  or  worker.on("url", WsgiHandler(app))

The environ is built from the job's request object (docs/protocol.md 1.3):
  REQUEST_METHOD       method
  SCRIPT_NAME          --script-name (default ""), stripped from the front of the path
  PATH_INFO            the normalised path (1.7), percent-decoded to bytes, as latin-1 (PEP 3333)
  QUERY_STRING         query, as received
  CONTENT_TYPE/LENGTH  from the headers; CONTENT_LENGTH is the body's length when there is one
  HTTP_*               every other header (names upper-cased, '-' -> '_'; the front joined
                       repeated ones with ", ", cookies with "; ")
  SERVER_NAME/PORT     from Host (port 80 when absent), SERVER_PROTOCOL HTTP/<http_version>
  REMOTE_ADDR/PORT     remote_addr; REQUEST_URI and RAW_URI: the target as received
  wsgi.input (BytesIO of the body), wsgi.errors (stderr), wsgi.url_scheme (--url-scheme, http),
  wsgi.multithread (concurrency > 1), wsgi.multiprocess True, wsgi.run_once False,
  wsgi.input_terminated True, tempest.request (the Request), tempest.worker
Text from the job (headers, query, target) is given as its UTF-8 bytes decoded as latin-1, the
native strings PEP 3333 wants (wire_text).

The response: start_response(status, headers, exc_info=None) (exc_info re-raised once headers
would be out; a second call without it is an error), write() and the iterable are collected into
one body, then close() is called. Streamed answers are not in the tree yet: a streaming
response (Server-Sent Events, large files) is sent whole when the iterable ends. Repeated header
names (Set-Cookie) become arrays. An exception from the app -> 500 (logged).
"""

import argparse
import importlib
import io
import logging
import os
import sys
import urllib.parse

from .worker import add_arguments, worker_from_args

log = logging.getLogger("tempest.wsgi")


def wire_text(s):
    """The bytes a client sent for a text the front put in a job, as a latin-1 str (PEP 3333):
    its UTF-8 bytes. (A header that held non-UTF-8 bytes reached the job as ISO-8859-1 text, 1.4;
    it cannot be told apart from the same characters sent as UTF-8, so it is given as UTF-8.)"""
    if s.isascii():
        return s
    return s.encode("utf-8", "surrogatepass").decode("latin-1")


def split_host(host, scheme):
    default = "443" if scheme == "https" else "80"
    if host.startswith("["):
        end = host.find("]")
        name, rest = host[1:end], host[end + 1:]
        return name, rest[1:] if rest.startswith(":") and rest[1:].isdigit() else default
    name, sep, port = host.rpartition(":")
    if sep and port.isdigit():
        return name, port
    return host, default


def build_environ(req, script_name="", url_scheme="http", multithread=False):
    headers = req.headers
    path = urllib.parse.unquote_to_bytes(req.path).decode("latin-1")
    if script_name and (path == script_name or path.startswith(script_name.rstrip("/") + "/")):
        path = path[len(script_name.rstrip("/")):]
    else:
        script_name = ""
    host = headers.get("host", "")
    server_name, server_port = split_host(wire_text(host), url_scheme) if host else ("localhost", "80")
    remote_host, _, remote_port = req.remote_addr.rpartition(":")
    env = {
        "REQUEST_METHOD": req.method,
        "SCRIPT_NAME": script_name.rstrip("/"),
        "PATH_INFO": path,
        "QUERY_STRING": wire_text(req.query),
        "SERVER_NAME": server_name,
        "SERVER_PORT": server_port,
        "SERVER_PROTOCOL": "HTTP/" + (req.http_version or "1.1"),
        "REMOTE_ADDR": remote_host.strip("[]") if remote_host else req.remote_addr,
        "REMOTE_PORT": remote_port,
        "REQUEST_URI": wire_text(req.url),
        "RAW_URI": wire_text(req.url),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": url_scheme,
        "wsgi.input": io.BytesIO(req.body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": multithread,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.input_terminated": True,
        "tempest.request": req,
    }
    if "content-type" in headers:
        env["CONTENT_TYPE"] = wire_text(headers["content-type"])
    if req.has_body:
        env["CONTENT_LENGTH"] = str(len(req.body))
    elif "content-length" in headers:
        env["CONTENT_LENGTH"] = headers["content-length"]
    for name, value in headers.items():
        if name in ("content-type", "content-length"):
            continue
        key = "HTTP_" + name.upper().replace("-", "_")
        env[key] = wire_text(value)
    return env


class WsgiHandler:
    """A "url" handler that runs a WSGI application: worker.on("url", WsgiHandler(app))."""

    def __init__(self, app, script_name="", url_scheme="http", multithread=False):
        self.app, self.script_name, self.url_scheme = app, script_name, url_scheme
        self.multithread = multithread

    def __call__(self, req):
        environ = build_environ(req, self.script_name, self.url_scheme, self.multithread)
        state = {"status": None, "headers": None, "sent": False}
        chunks = []

        def start_response(status, headers, exc_info=None):
            if exc_info:
                try:
                    if state["sent"]:
                        raise exc_info[1].with_traceback(exc_info[2])
                finally:
                    exc_info = None
            elif state["status"] is not None:
                raise AssertionError("start_response called a second time without exc_info")
            if not isinstance(status, str) or len(status) < 3 or not status[:3].isdigit():
                raise ValueError(f"bad WSGI status {status!r}")
            state["status"], state["headers"] = status, list(headers)
            return write

        def write(data):
            if state["status"] is None:
                raise AssertionError("write() before start_response")
            state["sent"] = True
            chunks.append(bytes(data))

        result = self.app(environ, start_response)
        try:
            for data in result:
                if data:
                    if state["status"] is None:
                        raise AssertionError("the application yielded a body before start_response")
                    state["sent"] = True
                    chunks.append(bytes(data))
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        if state["status"] is None:
            raise AssertionError("the application returned without calling start_response")
        headers = {}
        for name, value in state["headers"]:
            key = next((k for k in headers if k.lower() == name.lower()), name)
            value = _from_latin1(value)
            headers.setdefault(key, []).append(value)
        return int(state["status"][:3]), headers, b"".join(chunks)


def _from_latin1(value):
    """A response header value (a latin-1 native string: the bytes to send) as the text the
    front sends as UTF-8: UTF-8 bytes come out right, other bytes as U+FFFD. A value that is not
    latin-1 at all (against PEP 3333, but common) is taken as the text it is."""
    if value.isascii():
        return value
    try:
        return value.encode("latin-1").decode("utf-8", "replace")
    except UnicodeEncodeError:
        return value


def load_app(spec):
    """'module:attr' (attr may be dotted, or a call such as 'create_app()'), or 'module' (its
    'application' or 'app')."""
    module_name, _, attr = spec.partition(":")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    module = importlib.import_module(module_name)
    if not attr:
        for name in ("application", "app"):
            if hasattr(module, name):
                return getattr(module, name)
        raise AttributeError(f"module {module_name!r} has no 'application' or 'app'")
    call = attr.endswith("()")
    obj = module
    for part in attr[:-2 if call else None].split("."):
        obj = getattr(obj, part)
    return obj() if call else obj


def serve(app, worker, script_name="", url_scheme="http"):
    worker.on("url", WsgiHandler(app, script_name, url_scheme, worker.concurrency > 1))
    return worker.run()


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python3 -m tempest.wsgi",
                                     description="Serves a WSGI application as a Tempest worker")
    parser.add_argument("app", help="module:attribute of the WSGI application (e.g. myapp:app)")
    add_arguments(parser)
    parser.add_argument("--script-name", default="", help="mount point stripped from PATH_INFO (SCRIPT_NAME)")
    parser.add_argument("--url-scheme", default="http", choices=("http", "https"),
                        help="wsgi.url_scheme (https behind a TLS proxy) [default: http]")
    args = parser.parse_args(argv)
    worker = worker_from_args(args)
    try:
        app = load_app(args.app)
    except (ImportError, AttributeError) as e:
        print(f"python3 -m tempest.wsgi: cannot load {args.app!r}: {e}", file=sys.stderr)
        return 2
    return serve(app, worker, args.script_name, args.url_scheme)


if __name__ == "__main__":
    sys.exit(main())
