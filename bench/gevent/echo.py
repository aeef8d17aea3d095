"""TCP echo server on gevent: the seeds' server, what greenstd ports.

gevent's own recipe (monkey.patch_all, then ordinary blocking socket code
with one greenlet per connection) doing what bench/plain/echo.rs does:
read up to 1,024 bytes, write them all back, until EOF or an error.

gevent.spawn rather than a monkey-patched threading.Thread: it is the
seeds' idiom and gevent's lighter case (10,000 idle connections: 8.8 KiB
each against 11.2 KiB with threading.Thread, accepted in half the time).

Usage: python3 echo.py ADDR (default 127.0.0.1:7000; [::1]:PORT for IPv6).
The benchmark harness runs it with the Python of a venv it makes under
target/ with a pinned gevent (see bench/README.md).
"""

from gevent import monkey

monkey.patch_all()

import socket  # noqa: E402  (after patch_all, as gevent asks)
import sys  # noqa: E402

import gevent  # noqa: E402


def handle(conn):
    with conn:
        while True:
            try:
                data = conn.recv(1024)
                if not data:
                    return
                conn.sendall(data)
            except OSError:
                return


def main():
    addr = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:7000"
    host, _, port = addr.rpartition(":")
    family = socket.AF_INET6 if host.startswith("[") else socket.AF_INET
    # SO_REUSEADDR and a full backlog, as Rust's TcpListener::bind.
    listener = socket.create_server(
        (host.strip("[]"), int(port)), family=family, backlog=socket.SOMAXCONN
    )
    while True:
        try:
            conn, _ = listener.accept()
        except OSError as e:
            print(f"accept: {e}", file=sys.stderr)
            continue
        gevent.spawn(handle, conn)


if __name__ == "__main__":
    main()
