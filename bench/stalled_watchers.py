#!/usr/bin/env python3
"""Opens N watch streams that never read, then, when told, reads what each
got and checks that every stream the server cut ends with its `cut` event.

Usage: stalled_watchers.py HOST:PORT N QUERY CONTROL_FIFO
  - opens N connections with `GET /v1/watch?QUERY`, waits for each 200 head
    (peeking, so nothing is read), prints "open N" and waits on CONTROL_FIFO;
  - on "read", reads every stream to its end (or 30 s), keeping the last
    64 KiB of each, and prints one JSON line:
    {"streams", "ended", "cut", "cut_with_resume", "bytes"}.
"""
import json
import re
import selectors
import socket
import sys
import time

host, port = sys.argv[1].rsplit(":", 1)
count = int(sys.argv[2])
query = sys.argv[3]
fifo = sys.argv[4]

request = (
    f"GET /v1/watch?{query} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
).encode()
socks = []
for _ in range(count):
    s = socket.create_connection((host, int(port)))
    s.sendall(request)
    socks.append(s)
deadline = time.time() + 60
for s in socks:
    while not s.recv(16, socket.MSG_PEEK).startswith(b"HTTP/1.1 200"):
        if time.time() > deadline:
            sys.exit("a watch got no 200 answer")
        time.sleep(0.01)
print(f"open {count}", flush=True)

with open(fifo) as control:
    control.readline()

TAIL = 64 * 1024
tails = {s.fileno(): b"" for s in socks}
total = 0
ended = 0
selector = selectors.DefaultSelector()
for s in socks:
    s.setblocking(False)
    selector.register(s, selectors.EVENT_READ, s.fileno())
live = len(socks)
deadline = time.time() + 30
while live and time.time() < deadline:
    for key, _ in selector.select(1.0):
        s, fd = key.fileobj, key.data
        try:
            data = s.recv(1 << 20)
        except BlockingIOError:
            continue
        if not data:
            ended += 1
            live -= 1
            selector.unregister(s)
            s.close()
            continue
        total += len(data)
        tails[fd] = (tails[fd] + data)[-TAIL:]

cut = 0
with_resume = 0
pattern = re.compile(rb"event: cut\ndata: (\{[^\n]*\})\n")
for tail in tails.values():
    found = pattern.findall(tail)
    if found:
        cut += 1
        body = json.loads(found[-1])
        if isinstance(body.get("resume_from_rev"), int) and body["resume_from_rev"] > 0:
            with_resume += 1
print(json.dumps({"streams": count, "ended": ended, "cut": cut,
                  "cut_with_resume": with_resume, "bytes": total}), flush=True)
