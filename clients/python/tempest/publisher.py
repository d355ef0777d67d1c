"""Server-Sent Events from Python: records and publishes one event with the history script
(src/core/queue/scripts/history.lua), as src/worker/publisher.cpp and `tempest publish` do, so
that browsers at /sub/<channel> get it live and a reconnecting one gets it replayed
(docs/protocol.md 7.4-7.6).

    p = Publisher("redis://127.0.0.1:6379/0")
    p.publish("news", "hello")                 # -> "1732761600000-0" (the history entry id)
    p.publish("news", {"a": 1}, event="update")  # data that is not a str is sent as its JSON

history_count=0: a bare PUBLISH of ["data"] / ["event", "data"] (live only, never replayed).
"""

import json
import re

from . import keys, redis_url
from .scripts import Script

DEFAULT_COUNT = 1000        # entries kept per channel (src/core/history.hpp)
DEFAULT_AGE_MS = 3600000    # one hour
_CHANNEL = re.compile(r"^[A-Za-z0-9_.:@-]{1,128}$")


def check_channel(name):
    if not _CHANNEL.match(name or ""):
        raise ValueError(f"channel {name!r}: 1-128 characters of A-Za-z0-9 and _ . : @ - "
                         "(the front's /sub/<channel> rule)")


class Publisher:
    def __init__(self, url=None, history_count=DEFAULT_COUNT, history_age_ms=DEFAULT_AGE_MS, client=None):
        self.client = client or redis_url.client(url or redis_url.default_url())
        if history_count < 0 or history_age_ms < 0:
            raise ValueError("history count and age must not be negative")
        self.history_count, self.history_age_ms = history_count, history_age_ms
        self.script = Script("history")

    def publish(self, channel, data, event=None):
        """Publishes data (str; bytes must be UTF-8; anything else as its JSON text) on channel
        with an optional event name; returns the history entry id ("" with history_count 0)."""
        check_channel(channel)
        if isinstance(data, bytes):
            data = data.decode("utf-8")  # events carry text: UnicodeDecodeError otherwise
        elif not isinstance(data, str):
            data = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
        event = event or ""
        if "\r" in event or "\n" in event:
            raise ValueError("event name: contains a line break")
        if self.history_count == 0:
            payload = [event, data] if event else [data]
            self.client.publish(channel, json.dumps(payload, ensure_ascii=False))
            return ""
        r = self.script.run(self.client, [keys.HISTORY_PREFIX + channel],
                            [channel, event, data, self.history_count, self.history_age_ms])
        return r.decode() if isinstance(r, bytes) else str(r)

    def close(self):
        self.client.close()
