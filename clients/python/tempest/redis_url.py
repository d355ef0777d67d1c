"""Redis URLs as every Tempest program takes them (docs/protocol.md 5.2), for redis-py.

    redis://[[user]:password@]host[:port][/db]     unix:/path[?db=N]

    kwargs = parse_redis_url("redis://:secret@127.0.0.1:6379/2")
    redis.Redis(**kwargs)            # a client (connection pool, thread-safe)
    connection(url, timeout=6)       # one redis.Connection (the lanes pipeline on it)

Default: $TEMPEST_REDIS, else redis://127.0.0.1:6379/0 (as the C++ worker_options).
"""

import os
import urllib.parse

import redis

DEFAULT_URL = "redis://127.0.0.1:6379/0"


def default_url():
    return os.environ.get("TEMPEST_REDIS") or DEFAULT_URL


def parse_redis_url(url):
    """The keyword arguments of redis.Redis / redis.Connection for a Tempest Redis URL;
    ValueError naming what is wrong."""
    if url.startswith("unix:"):
        rest = url[len("unix:"):]
        if rest.startswith("//"):
            rest = rest[2:]
        path, _, query = rest.partition("?")
        if not path:
            raise ValueError(f"redis URL {url!r}: no socket path")
        db = 0
        for pair in filter(None, query.split("&")):
            key, _, value = pair.partition("=")
            if key == "db":
                db = _db(value, url)
        return {"unix_socket_path": path, "db": db}
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "redis":
        raise ValueError(f"redis URL {url!r}: expected redis://host[:port][/db] or unix:/path")
    try:
        port = parts.port or 6379
    except ValueError:
        raise ValueError(f"redis URL {url!r}: bad port") from None
    host = parts.hostname or "127.0.0.1"
    path = parts.path.strip("/")
    out = {"host": host, "port": port, "db": _db(path, url) if path else 0}
    if parts.password is not None:
        out["password"] = urllib.parse.unquote(parts.password)
    if parts.username:
        out["username"] = urllib.parse.unquote(parts.username)
    return out


def _db(text, url):
    if not text.isdigit():
        raise ValueError(f"redis URL {url!r}: database {text!r} is not a number")
    return int(text)


def client(url, timeout=5.0):
    """A redis.Redis (bytes replies) with connect and reply timeouts."""
    return redis.Redis(socket_timeout=timeout, socket_connect_timeout=2.0, **parse_redis_url(url))


def connection(url, timeout=6.0):
    """One redis.Connection (not pooled): send_command / read_response, for pipelining."""
    kw = parse_redis_url(url)
    if "unix_socket_path" in kw:
        return redis.UnixDomainSocketConnection(path=kw.pop("unix_socket_path"), socket_timeout=timeout, **kw)
    return redis.Connection(socket_timeout=timeout, socket_connect_timeout=2.0, **kw)
