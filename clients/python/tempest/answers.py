"""Answer connections: a worker's persistent RESP connection to each front's answer endpoint
(docs/protocol.md 2.1, 3), on which the answers `<action> <job id> <json>` are pipelined and
their +OK / -ERR replies read later. Mirrors src/core/answer/client.hpp (same limits, same
states); used by the lanes (worker.py) and the reaper's 502 answers (reliable.py).

    pool = AnswerPool(password, limits)
    pool.send("127.0.0.1:7001", "url", 42, b'[200,{},"hi"]', flush=True)
    pool.collect()            # write what is queued, read replies (each endpoint <= reply_wait)
    pool.collect(final=True)  # until every answer is acknowledged or its endpoint is down

States of one endpoint (all transitions in _Endpoint):
  none       --answer--> connect (blocking, --answer-connect-timeout), AUTH queued first
             --refused / timed out--> down
  open       --write or read fails, peer closed--> reconnect once, resend the unacknowledged
             answers --fails again--> down
  open       --an answer unacknowledged for --answer-timeout, or more than --answer-buffer
             bytes queued--> down at once
  down       drops its queued answers (their requests get 504 at the front), counted in
             pool.dropped; 1 s later the next answer connects again
The socket is non-blocking once connected: a front that does not read delays only its own
answers. Unlike the C++ client the connect itself blocks (bounded by the connect timeout).
"""

import collections
import logging
import select
import socket
import threading
import time

log = logging.getLogger("tempest.answers")

DOWN_FOR = 1.0


class Limits:
    def __init__(self, connect_timeout=0.5, timeout=5.0, reply_wait=0.1, buffer_bytes=8 << 20):
        self.connect_timeout = connect_timeout  # seconds
        self.timeout = timeout                  # longest an answer may stay unacknowledged
        self.reply_wait = reply_wait            # longest collect() waits for one endpoint
        self.buffer_bytes = buffer_bytes        # unacknowledged bytes per endpoint


def resp_command(*parts):
    out = [b"*%d\r\n" % len(parts)]
    for p in parts:
        if isinstance(p, str):
            p = p.encode("utf-8")
        elif isinstance(p, int):
            p = str(p).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(p), p))
    return b"".join(out)


def split_host_port(address):
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise ValueError(f"{address!r} is not host:port")
    return host.strip("[]"), int(port)


class _Endpoint:
    def __init__(self, key, pool):
        self.key = key
        self.pool = pool
        self.sock = None
        self.out = bytearray()          # bytes not written yet
        self.pending = collections.deque()  # [command bytes, job id or None (AUTH), queued at]
        self.pending_bytes = 0
        self.inbuf = bytearray()
        self.down_until = 0.0
        self.bad = None
        try:
            self.host, self.port = split_host_port(key)
        except ValueError as e:
            self.bad = str(e)

    # ---- sending
    def send(self, command, job_id, flush):
        now = time.monotonic()
        if self.bad or now < self.down_until:
            self._drop_one(job_id, self.bad or "down")
            return
        if self.sock is None:
            if not self._connect():
                self._drop_one(job_id, "cannot connect")
                return
        elif not self.pending and self._peer_closed():
            self._close()
            if not self._connect():
                self._drop_one(job_id, "cannot reconnect")
                return
        self.pending.append((command, job_id, now))
        self.pending_bytes += len(command)
        self.out += command
        if self.pending_bytes > self.pool.limits.buffer_bytes and len(self.pending) > 1:
            self._down("more than --answer-buffer bytes unacknowledged")
            return
        if flush:
            self.write_some()

    def _connect(self):
        try:
            s = socket.create_connection((self.host, self.port), timeout=self.pool.limits.connect_timeout)
        except OSError as e:
            self._down(f"connect: {e}")
            return False
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.setblocking(False)
        self.sock = s
        self.inbuf.clear()
        if self.pool.password:
            auth = resp_command("AUTH", self.pool.password)
            self.pending.appendleft((auth, None, time.monotonic()))
            self.out[:0] = auth
        return True

    def _peer_closed(self):
        try:
            r, _, _ = select.select([self.sock], [], [], 0)
            if not r:
                return False
            data = self.sock.recv(65536)
            if not data:
                return True
            self.inbuf += data  # a stray reply: parsed with the next ones
            return False
        except OSError:
            return True

    def write_some(self):
        while self.out and self.sock is not None:
            try:
                n = self.sock.send(self.out)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                self._broken(f"write: {e}")
                return
            del self.out[:n]

    # ---- replies
    def read_some(self):
        try:
            data = self.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as e:
            self._broken(f"read: {e}")
            return
        if not data:
            self._broken("the front closed the connection")
            return
        self.inbuf += data
        self._take_replies()

    def _take_replies(self):
        while self.pending:
            end = self.inbuf.find(b"\r\n")
            if end < 0:
                return
            line = bytes(self.inbuf[:end])
            if line[:1] in (b"$", b"*"):  # not what the endpoint answers to url/AUTH; skip a bulk
                n = int(line[1:] or 0)
                if line[:1] == b"$" and n >= 0:
                    if len(self.inbuf) < end + 2 + n + 2:
                        return
                    end += n + 2
            del self.inbuf[:end + 2]
            command, job_id, _ = self.pending.popleft()
            self.pending_bytes -= len(command)
            if line.startswith(b"-"):
                text = line[1:].decode("utf-8", "replace")
                if job_id is None:
                    log.warning("answer endpoint %s refused AUTH: %s", self.key, text)
                else:
                    self.pool.log_refused(self.key, job_id, text)

    def expire(self, now):
        if self.pending and now - self.pending[0][2] > self.pool.limits.timeout:
            self._down(f"an answer stayed unacknowledged for {self.pool.limits.timeout:g} s")

    def wait_until(self):
        return self.pending[0][2] + self.pool.limits.reply_wait if self.pending else 0

    # ---- failures
    def _broken(self, why):
        unacked = list(self.pending)
        self._close()
        if not unacked or not self._connect():
            if unacked:
                self.pending.extend(unacked)
                self._down(why)
            return
        # resend what was not acknowledged (AUTH was queued again by _connect)
        for entry in unacked:
            if entry[1] is None:
                continue
            self.pending.append(entry)
            self.pending_bytes += len(entry[0])
            self.out += entry[0]
        self.write_some()

    def _down(self, why):
        n = sum(1 for p in self.pending if p[1] is not None)
        self._close()
        self.down_until = time.monotonic() + DOWN_FOR
        self.pool.count_dropped(self.key, n, why)

    def _drop_one(self, job_id, why):
        if job_id is not None:
            self.pool.count_dropped(self.key, 1, why)

    def _close(self):
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
        self.sock = None
        self.out.clear()
        self.pending.clear()
        self.pending_bytes = 0
        self.inbuf.clear()


class AnswerPool:
    """One _Endpoint per respond_to; not thread-safe (one per lane)."""

    def __init__(self, password="", limits=None):
        self.password = password or ""
        self.limits = limits or Limits()
        self.endpoints = {}
        self.dropped = 0
        self._lock = threading.Lock()
        self._logged_at = {}

    def send(self, respond_to, action, job_id, json_bytes, flush=True):
        ep = self.endpoints.get(respond_to)
        if ep is None:
            ep = self.endpoints[respond_to] = _Endpoint(respond_to, self)
        ep.send(resp_command(action, str(job_id), json_bytes), job_id, flush)

    def flush_out(self):
        for ep in self.endpoints.values():
            ep.write_some()

    def pending(self):
        return sum(len(ep.pending) for ep in self.endpoints.values())

    def collect(self, final=False):
        """Writes what is queued and reads the replies: each endpoint is waited for at most
        reply_wait after its oldest unacknowledged answer (final: until done or down)."""
        while True:
            now = time.monotonic()
            rl, wl, waits = [], [], []
            for ep in list(self.endpoints.values()):
                ep.expire(now)
                if ep.sock is None or not ep.pending:
                    continue
                ep.write_some()
                if ep.sock is not None:
                    ep.read_some()  # without waiting: replies that came after an earlier wait
                if ep.sock is None or not ep.pending:
                    continue
                limit = now + self.limits.timeout if final else ep.wait_until()
                if limit <= now and not final:
                    continue
                waits.append(limit)
                rl.append(ep.sock)
                if ep.out:
                    wl.append(ep.sock)
            if not rl:
                return
            timeout = max(0.0, min(min(waits) - now, 0.05 if final else 1.0))
            try:
                r, w, _ = select.select(rl, wl, [], timeout)
            except (OSError, ValueError):
                continue
            by_sock = {ep.sock: ep for ep in self.endpoints.values() if ep.sock is not None}
            for s in w:
                if s in by_sock:
                    by_sock[s].write_some()
            for s in r:
                if s in by_sock and by_sock[s].sock is s:
                    by_sock[s].read_some()

    def close(self):
        for ep in self.endpoints.values():
            ep._close()
        self.endpoints.clear()

    def count_dropped(self, key, n, why):
        if n <= 0:
            return
        self.dropped += n
        now = time.monotonic()
        if now - self._logged_at.get(key, -1e9) >= 10:
            self._logged_at[key] = now
            log.warning("answer endpoint %s is down (%s): %d answer(s) dropped; their requests get 504",
                        key, why, n)

    def log_refused(self, key, job_id, text):
        # "unknown job": answered already (at-least-once, 9.4), timed out, or another front's
        level = logging.DEBUG if text.startswith("ERR unknown job") else logging.WARNING
        log.log(level, "[j%s] answer endpoint %s refused the answer: %s", job_id, key, text)
