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
# shellcheck source=bench/lib.sh
. bench/lib.sh
start_server --data-dir "$work/data"
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
