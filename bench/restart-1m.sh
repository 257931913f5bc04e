#!/usr/bin/env bash
# Time to restart with 1,000,000 keys (16-byte keys, 100-byte values):
# loads the keys over HTTP, stops the server, then times start-to-ready
# twice: once replaying the log, once from a snapshot written by compaction.
# Usage: bench/restart-1m.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet --bin server
# shellcheck source=bench/lib.sh
. bench/lib.sh
# info: the recovery line says what was loaded.
start() { RUST_LOG=info start_server --data-dir "$work/data" "$@"; }
stop() { stop_server; }

start --fsync no
echo "loading 1,000,000 keys..."
python3 - "$base" <<'PY'
import http.client, json, sys, threading
host = sys.argv[1].removeprefix("http://")
val = "v" * 100
def load(lo, hi):
    c = http.client.HTTPConnection(host)
    for i in range(lo, hi):
        body = json.dumps({"key": "key-%012d" % i, "val": val})
        c.request("POST", "/set", body, {"Content-Type": "application/json"})
        r = c.getresponse(); r.read()
        assert r.status == 201, r.status
threads = [threading.Thread(target=load, args=(t * 125000, (t + 1) * 125000)) for t in range(8)]
[t.start() for t in threads]; [t.join() for t in threads]
PY
curl -s "$base/get?key=key-000000999999"; echo
stop
du -sh "$work/data"
for label in "log replay" "snapshot"; do
  if [ "$label" = snapshot ]; then
    # One tiny write with a low compaction threshold makes the server
    # snapshot everything; wait for the snapshot file, then restart.
    start --compact-min-bytes 1 --compact-ratio 0
    curl -s -X POST "$base/set" -H 'content-type: application/json' -d '{"key":"k","val":"v"}' >/dev/null
    curl -s -X POST "$base/set" -H 'content-type: application/json' -d '{"key":"k","val":"w"}' >/dev/null
    until grep -q "compacted the log" "$work/err"; do sleep 0.05; done
    stop
    ls -la "$work/data"
  fi
  t0=$(date +%s.%N)
  start
  t1=$(date +%s.%N)
  grep "recovered" "$work/err" | sed 's/^.*INFO  //'
  echo "$label: ready in $(echo "$t1 - $t0" | bc) s"
  stop
done
