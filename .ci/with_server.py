#!/usr/bin/env python3
"""Run a command against a real kv-store server, then stop the server.

    .ci/with_server.py SERVER [SERVER_ARGS...] -- COMMAND [ARGS...]

Starts SERVER with SERVER_ARGS (give it `--host 127.0.0.1:0`), waits for
the line `kv-store listening on http://ADDR` on its stdout (the server
prints it once its data is loaded; no fixed sleep), then runs COMMAND with
every `{url}` in its arguments replaced by `http://ADDR` and `KV_URL` in its
environment. The server's log goes to $KV_SERVER_LOG (default: discarded).
Exits with COMMAND's status, or 1 when the server does not come up within
$KV_SERVER_START_SECS seconds (default 60) or dies while COMMAND runs.
"""

import os
import re
import selectors
import signal
import subprocess
import sys
import threading
import time

READY = re.compile(r"^kv-store listening on (https?://\S+)$")


def wait_for_url(server, deadline):
    """The URL from the server's readiness line, or None if it exits or the deadline passes."""
    selector = selectors.DefaultSelector()
    selector.register(server.stdout, selectors.EVENT_READ)
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or not selector.select(timeout=left):
            return None
        line = server.stdout.readline()
        if not line:
            return None
        match = READY.match(line.strip())
        if match:
            return match.group(1)


def drain(stream):
    for _ in stream:
        pass


def main(argv):
    if "--" not in argv:
        sys.exit(__doc__)
    split = argv.index("--")
    server_cmd, command = argv[:split], argv[split + 1 :]
    if not server_cmd or not command:
        sys.exit(__doc__)
    log_path = os.environ.get("KV_SERVER_LOG", os.devnull)
    start_secs = float(os.environ.get("KV_SERVER_START_SECS", "60"))
    with open(log_path, "ab") as log:
        server = subprocess.Popen(
            server_cmd, stdout=subprocess.PIPE, stderr=log, text=True, bufsize=1
        )
        try:
            url = wait_for_url(server, time.monotonic() + start_secs)
            if url is None:
                print(f"with_server: {server_cmd[0]} did not come up (log: {log_path})", file=sys.stderr)
                return 1
            threading.Thread(target=drain, args=(server.stdout,), daemon=True).start()
            env = dict(os.environ, KV_URL=url)
            status = subprocess.call([arg.replace("{url}", url) for arg in command], env=env)
            if server.poll() is not None:
                print(f"with_server: the server exited ({server.returncode}) during the run", file=sys.stderr)
                return status or 1
            return status
        finally:
            if server.poll() is None:
                server.send_signal(signal.SIGTERM)
                try:
                    server.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    server.kill()
                    server.wait()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
