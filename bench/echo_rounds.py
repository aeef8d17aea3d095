"""A fixed amount of echo work, for counting a server's instructions.

    python3 bench/echo_rounds.py PORT CONNS ROUNDS

Opens CONNS connections to 127.0.0.1:PORT, then makes ROUNDS 64-byte round
trips on each, all connections at once (one request in flight on each),
and closes them. Used by bench/callgrind-echo.sh: the number of round trips
is exact, so a server's instructions per round trip can be counted.
"""
import selectors
import socket
import sys

port, conns, rounds = (int(a) for a in sys.argv[1:4])
msg = b"x" * 64
sel = selectors.DefaultSelector()
socks = []
for _ in range(conns):
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.setblocking(False)
    socks.append(s)
left = {}
for s in socks:
    left[s] = [rounds, 0]
    s.send(msg)
    sel.register(s, selectors.EVENT_READ)
active = conns
while active:
    for key, _ in sel.select():
        s = key.fileobj
        state = left[s]
        state[1] += len(s.recv(4096))
        while state[1] >= len(msg) and state[0] > 0:
            state[1] -= len(msg)
            state[0] -= 1
            if state[0] == 0:
                sel.unregister(s)
                active -= 1
            else:
                s.send(msg)
for s in socks:
    s.close()
