#!/usr/bin/env bash
# POST /set under wrk -t2 -c64 with no watcher, then with WATCHERS watchers
# (kv-client/examples/watch_fanout.rs, which also measures delivery
# latency), against one release server (--fsync always).
# Usage: bench/watch-fanout.sh [WATCHERS] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
watchers=${1:-100}
seconds=${2:-10}
cargo build --release --quiet --bin server --example watch_fanout
work=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill $pid 2>/dev/null; rm -rf "$work"' EXIT
RUST_LOG=warn KVSTORE_SERVER_HOST=127.0.0.1:0 target/release/server --data-dir "$work/data" >"$work/out" &
pid=$!
until grep -q "listening on" "$work/out"; do kill -0 "$pid" 2>/dev/null || { echo "the server did not start" >&2; exit 1; }; sleep 0.05; done
base=$(sed -n 's/.*listening on //p' "$work/out")
rate() { wrk -t2 -c64 -d"${seconds}s" -s bench/set.lua "$base/set" | awk '/Requests\/sec/ {print $2}'; }
alone=$(rate)
target/release/examples/watch_fanout "$base" "$watchers" "$((seconds + 2))" >"$work/fanout" &
fan=$!
# Let the watchers connect before the load starts.
sleep 1
with=$(rate)
wait "$fan"
echo "POST /set without watchers: $alone req/s; with $watchers watchers: $with req/s; ratio $(echo "scale=3; $with / $alone" | bc)"
cat "$work/fanout"
