"""`tempest publish` against a real redis-server: the history entry (XRANGE), what a subscriber
sees (the 3-item recorded format, or the original ["data"] / ["name","data"] with --history 0;
never a null event name, which made the 2012 front exit),
trimming by count and age, AUTH and db from the URL, and the exit codes (1 Redis, 2 usage).
The front's side of the same messages is in the SSE tests.
"""

import json
import os
import re
import subprocess

from support.harness import BUILD_DIR, TempestCase, wait_until

TEMPEST_BIN = os.path.join(BUILD_DIR, "tempest")
ID_RE = re.compile(r"^\d+-\d+$")


def publish(*args, stdin=None, env=None):
    """Runs `tempest publish args...`; returns CompletedProcess (text output)."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("TEMPEST_")}
    full_env.update(env or {})
    return subprocess.run([TEMPEST_BIN, "publish", *args], input=stdin if stdin is not None else "",
                          capture_output=True, text=True, timeout=20, env=full_env)


class PublishTest(TempestCase):

    @classmethod
    def setUpClass(cls):
        cls.redis = cls.start_redis_for_class()

    def setUp(self):
        self.client = self.redis.client()
        self.addCleanup(self.client.close)
        self.client.flushall()
        self.pubsub = self.client.pubsub(ignore_subscribe_messages=True)
        self.addCleanup(self.pubsub.close)

    def subscribe(self, channel):
        self.pubsub.subscribe(channel)
        wait_until(lambda: self.client.pubsub_numsub(channel)[0][1] == 1, message="SUBSCRIBE")

    def next_message(self):
        msg = wait_until(lambda: self.pubsub.get_message(timeout=0.1), message="a message")
        return json.loads(msg["data"])

    def ok(self, *args, **kwargs):
        result = publish("--redis", self.redis.url, *args, **kwargs)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stderr, "")
        return result.stdout

    def test_records_publishes_and_prints_the_id(self):
        self.subscribe("news")
        out = self.ok("news", "hello")
        self.assertRegex(out, r"^\d+-\d+\n$")
        entry_id = out.strip()
        entries = self.client.xrange("tempest:history:news")
        self.assertEqual(entries, [(entry_id.encode(), {b"e": b"", b"d": b"hello"})])
        self.assertEqual(self.next_message(), ["message", "hello", entry_id])
        ttl = self.client.pttl("tempest:history:news")
        self.assertTrue(0 < ttl <= 3600_000, ttl)

    def test_event_name_and_multiline_data(self):
        self.subscribe("room:1")
        entry_id = self.ok("--event", "update", "room:1", "line 1\nline \"2\"").strip()
        self.assertEqual(self.next_message(), ["update", "line 1\nline \"2\"", entry_id])
        self.assertEqual(self.client.xrange("tempest:history:room:1")[0][1],
                         {b"e": b"update", b"d": b"line 1\nline \"2\""})

    def test_dash_reads_stdin_without_its_trailing_newline(self):
        self.subscribe("news")
        entry_id = self.ok("news", "-", stdin="from stdin\n").strip()
        self.assertEqual(self.next_message(), ["message", "from stdin", entry_id])

    def test_no_message_carries_a_null_event_name(self):
        # The 2012 front writes item 0 as the event name: a null there made its process exit.
        # Every form published must start with a string ("message" when no --event is given,
        # the name EventSource gives unnamed events), whatever the flags.
        self.subscribe("old")
        for flags in ([], ["--event", ""], ["--history", "0"], ["--history-age", "0"]):
            with self.subTest(flags=flags):
                self.ok(*flags, "old", "x")
                message = self.next_message()
                self.assertIsInstance(message[0], str, message)
                self.assertEqual(message[-2 if len(message) == 3 else -1], "x", message)
                if len(message) == 3:
                    self.assertEqual(message[0], "message", message)

    def test_history_zero_is_live_only_in_the_original_format(self):
        self.subscribe("news")
        self.assertEqual(self.ok("--history", "0", "news", "plain"), "")
        self.assertEqual(self.next_message(), ["plain"])
        self.assertEqual(self.ok("--history", "0", "--event", "tick", "news", "named"), "")
        self.assertEqual(self.next_message(), ["tick", "named"])
        self.assertFalse(self.client.exists("tempest:history:news"))

    def test_history_is_trimmed_by_count(self):
        # MAXLEN ~ trims whole stream nodes (100 entries by default): a bound, not an exact count.
        ids = [self.ok("--history", "5", "busy", str(i)).strip() for i in range(250)]
        entries = self.client.xrange("tempest:history:busy")
        self.assertLessEqual(len(entries), 5 + 100)
        self.assertGreaterEqual(len(entries), 5)
        self.assertEqual(entries[-1][0].decode(), ids[-1])  # the newest are kept

    def test_history_age_sets_the_expiry_and_zero_means_none(self):
        self.ok("--history-age", "2s", "short", "x")
        ttl = self.client.pttl("tempest:history:short")
        self.assertTrue(0 < ttl <= 2000, ttl)
        self.ok("--history-age", "0", "forever", "x")
        self.assertEqual(self.client.pttl("tempest:history:forever"), -1)

    def test_redis_from_the_environment_with_db(self):
        result = publish("news", "x", env={"TEMPEST_REDIS": self.redis.url_db(2)})
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(self.redis.client(db=2).xlen("tempest:history:news"), 1)
        self.assertFalse(self.client.exists("tempest:history:news"))

    def test_auth_from_the_url(self):
        self.client.config_set("requirepass", "sekret")
        try:
            with self.redis.client(password="sekret") as authed:
                url = f"redis://:sekret@127.0.0.1:{self.redis.port}/0"
                result = publish("--redis", url, "news", "x")
                self.assertEqual(result.returncode, 0, result.stderr)
                self.assertEqual(authed.xlen("tempest:history:news"), 1)
                wrong = publish("--redis", f"redis://:nope@127.0.0.1:{self.redis.port}/0", "news", "x")
                self.assertEqual(wrong.returncode, 1)
                self.assertIn("refused AUTH", wrong.stderr)
                authed.config_set("requirepass", "")
        finally:
            self.client = self.redis.client()

    def test_unreachable_redis_exits_1_with_one_line(self):
        result = publish("--redis", "redis://127.0.0.1:1/0", "news", "x")
        self.assertEqual(result.returncode, 1)
        self.assertEqual(result.stdout, "")
        self.assertEqual(len(result.stderr.splitlines()), 1, result.stderr)
        self.assertIn("127.0.0.1:1", result.stderr)

    def test_bad_usage_exits_2_with_one_line(self):
        cases = {
            "bad channel": (["bad channel", "x"], "channel"),
            "no data": (["news"], "CHANNEL and DATA"),
            "extra argument": (["news", "x", "y"], "unexpected argument"),
            "unknown flag": (["--nope", "news", "x"], "--nope"),
            "bad count": (["--history", "-1", "news", "x"], "--history"),
            "missing value": (["news", "x", "--history"], "--history needs a value"),
            "bad age": (["--history-age", "3x", "news", "x"], "--history-age"),
            "event with newline": (["--event", "a\nb", "news", "x"], "event"),
        }
        for name, (args, expected) in cases.items():
            with self.subTest(name):
                result = publish("--redis", self.redis.url, *args)
                self.assertEqual(result.returncode, 2, result.stderr)
                self.assertEqual(len(result.stderr.splitlines()), 1, result.stderr)
                self.assertIn(expected, result.stderr)
        result = publish("--redis", "http://127.0.0.1:1", "news", "x")
        self.assertEqual(result.returncode, 2, result.stderr)
        self.assertEqual(self.client.keys("tempest:history:*"), [])

    def test_help(self):
        result = publish("--help")
        self.assertEqual(result.returncode, 0, result.stderr)
        for flag in ("--redis", "--event", "--history", "--history-age"):
            self.assertIn(flag, result.stdout)
