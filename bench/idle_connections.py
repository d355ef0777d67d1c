#!/usr/bin/python3
"""Hold N idle keep-alive HTTP connections open against a server.

Used by bench/run to measure the front's memory per idle connection:

    idle_connections.py HOST PORT N RELEASE_FILE

Opens N TCP connections, sends one `GET /` (HTTP/1.1, keep-alive) on each,
reads each complete response, then prints `holding <N>` and keeps every
socket open until RELEASE_FILE exists (bench/run reads the server's VmRSS
meanwhile).  On release it prints `still_open <K>` (connections the server
had not closed) and exits.  Gives up after 120 s in any case.

Exit status: 0 on success, 1 if a connection or a response failed.
"""

import os
import socket
import sys
import time

HOLD_LIMIT_S = 120.0
IO_TIMEOUT_S = 30.0


def read_response(sock):
    """Read one HTTP/1.1 response (Content-Length or chunked). Returns the status code."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("connection closed before the response headers")
        buf += chunk
    head, _, body = buf.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip()
    if b"content-length" in headers:
        need = int(headers[b"content-length"])
        while len(body) < need:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("connection closed in the response body")
            body += chunk
    elif headers.get(b"transfer-encoding", b"").lower() == b"chunked":
        while not body.endswith(b"0\r\n\r\n"):
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("connection closed in the chunked body")
            body += chunk
    if headers.get(b"connection", b"").lower() == b"close":
        raise ConnectionError("server answered with Connection: close")
    return status


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    host, port, count, release = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    request = ("GET / HTTP/1.1\r\nHost: %s:%d\r\nConnection: keep-alive\r\n\r\n"
               % (host, port)).encode()

    socks = []
    try:
        for _ in range(count):
            s = socket.create_connection((host, port), timeout=IO_TIMEOUT_S)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            socks.append(s)
        # Send every request first, then collect the answers: the server sees
        # `count` concurrent requests, as it would from real clients.
        for s in socks:
            s.sendall(request)
        bad = 0
        for s in socks:
            if read_response(s) != 200:
                bad += 1
        if bad:
            print("error: %d of %d responses were not 200" % (bad, count), flush=True)
            return 1
    except (OSError, ValueError, IndexError) as e:
        print("error: after %d connections: %s" % (len(socks), e), flush=True)
        return 1

    print("holding %d" % len(socks), flush=True)
    deadline = time.monotonic() + HOLD_LIMIT_S
    while not os.path.exists(release) and time.monotonic() < deadline:
        time.sleep(0.05)

    # Non-blocking peek: no data pending means idle and open; b"" means the
    # server closed the connection while we held it.
    still_open = 0
    for s in socks:
        s.setblocking(False)
        try:
            if s.recv(1, socket.MSG_PEEK):
                still_open += 1
        except BlockingIOError:
            still_open += 1
        except OSError:
            pass
    print("still_open %d" % still_open, flush=True)
    for s in socks:
        s.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
