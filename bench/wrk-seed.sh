#!/usr/bin/env bash
# Measures the seed routes with wrk against one release server process:
# GET / (the HTTP stack's floor) and GET /get?key= on a preloaded key, in one
# run, and prints their ratio. Usage: bench/wrk-seed.sh [DURATION]
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-10s}
cargo build --release --quiet --bin server
work=$(mktemp -d)
out="$work/out"
RUST_LOG=warn KVSTORE_SERVER_HOST=127.0.0.1:0 target/release/server --data-dir "$work/data" >"$out" &
pid=$!
trap 'kill $pid 2>/dev/null; rm -rf "$work"' EXIT
until grep -q "listening on" "$out"; do
  kill -0 "$pid" 2>/dev/null || { echo "the server did not start" >&2; exit 1; }
  sleep 0.05
done
base=$(sed -n 's/.*listening on //p' "$out")
value=$(head -c 100 /dev/zero | tr '\0' v)
curl -sf -X POST "$base/set" -H 'content-type: application/json' \
  -d "{\"key\":\"bench\",\"val\":\"$value\"}" >/dev/null
rate() { wrk -t2 -c64 -d"$duration" --latency "$1" | tee /dev/stderr | awk '/Requests\/sec/ {print $2}'; }
echo "== GET /" >&2
root=$(rate "$base/")
echo "== GET /get?key=bench" >&2
get=$(rate "$base/get?key=bench")
echo "GET /: $root req/s; GET /get: $get req/s; ratio get/root: $(echo "scale=3; $get / $root" | bc)"
