"""The Lua scripts of the queue model, read from the very files the C++ library embeds
(src/core/queue/scripts/*.lua; their header comments list KEYS and ARGV). Never a copy in git.

Where the files are found, first that exists:
  1. $TEMPEST_SCRIPTS_DIR
  2. <package>/scripts/   copied in by the build step of setup.py (pip install), never committed
  3. <repo>/src/core/queue/scripts/, walking up from the package (the package used from the tree)

    take = Script("take")
    take.run(conn_or_client, keys, args)   # EVALSHA; SCRIPT LOAD first and again on NOSCRIPT
"""

import hashlib
import os

import redis

NAMES = ("take", "goodbye", "reap", "retry", "history")
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def scripts_dir():
    """The directory holding take.lua and the others; FileNotFoundError saying where it looked."""
    looked = []
    env = os.environ.get("TEMPEST_SCRIPTS_DIR")
    candidates = [env] if env else []
    candidates.append(os.path.join(_PACKAGE_DIR, "scripts"))
    d = _PACKAGE_DIR
    while True:
        candidates.append(os.path.join(d, "src", "core", "queue", "scripts"))
        parent = os.path.dirname(d)
        if parent == d:
            break
        d = parent
    for c in candidates:
        looked.append(c)
        if os.path.isfile(os.path.join(c, "take.lua")):
            return c
    raise FileNotFoundError("the Tempest Lua scripts (take.lua ...) are in none of: " + ", ".join(looked) +
                            " (set TEMPEST_SCRIPTS_DIR, or install the package with pip from the repository)")


_cache = {}


def source(name):
    """The text of <name>.lua, exactly as in the file."""
    if name not in _cache:
        with open(os.path.join(scripts_dir(), name + ".lua"), "rb") as f:
            _cache[name] = f.read()
    return _cache[name]


class Script:
    """One script; its sha is computed from the file. run() works on a redis.Redis client or
    on a raw redis.Connection (the lanes')."""

    def __init__(self, name):
        self.name = name
        self.text = source(name)
        self.sha = hashlib.sha1(self.text).hexdigest()

    def args(self, keys, argv):
        return ["EVALSHA", self.sha, len(keys), *keys, *argv]

    def load(self, target):
        if isinstance(target, redis.Redis):
            target.execute_command("SCRIPT", "LOAD", self.text)
        else:
            target.send_command("SCRIPT", "LOAD", self.text)
            target.read_response()

    def run(self, target, keys, argv):
        """EVALSHA; on NOSCRIPT, SCRIPT LOAD and once more."""
        for attempt in (0, 1):
            try:
                if isinstance(target, redis.Redis):
                    return target.execute_command(*self.args(keys, argv))
                target.send_command(*self.args(keys, argv))
                return target.read_response()
            except redis.exceptions.NoScriptError:
                if attempt:
                    raise
                self.load(target)
