#!/usr/bin/env bash
# The throughput and latency targets of issue 7, each as a ratio to GET /
# measured on the same server process just before, with wrk -t2 -c64:
#   1. --fsync always (the default), 10,000 preloaded keys of 100 bytes:
#      GET /, GET /get?key= over the 10,000 keys, POST /set over 100,000
#      keys, 90% get / 10% set;
#   2. --fsync no: GET /, POST /set over 100,000 keys;
#   3. --in-memory, 16 values of 64 KiB: GET /v1/kv/{key}, in MB/s of payload.
# Prints one line per load with req/s, the ratio and wrk's p99.
# Usage: bench/targets.sh [DURATION]   (default 10s)
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-10s}
cargo build --release --quiet --bin server --bin client
# shellcheck source=bench/lib.sh
. bench/lib.sh
# wrk LABEL URL [wrk args...]: prints "LABEL  N req/s  p99 X" and sets $rate.
measure() {
  local label=$1 url=$2; shift 2
  wrk -t2 -c64 -d"$duration" --latency "$@" "$url" >"$work/wrk.log"
  rate=$(awk '/Requests\/sec/ {print $2}' "$work/wrk.log")
  p99=$(awk '/ 99%/ {print $2}' "$work/wrk.log")
  errors=$(awk '/Non-2xx|Socket errors/ {print}' "$work/wrk.log" | tr '\n' ' ')
  printf '%-34s %10s req/s  p99 %-8s %s' "$label" "$rate" "$p99" "$errors"
}
ratio() { printf '  ratio %s\n' "$(echo "scale=2; $1 / $root" | bc)"; }

start_server --data-dir "$work/always" --fsync always
target/release/client --host "$base" bench set --requests 10000 --keys 10000 --value-size 100 >/dev/null
measure "always: GET /" "$base/"; root=$rate; echo
measure "always: GET /get (10k keys)" "$base/get" -s bench/get.lua; ratio "$rate"
measure "always: POST /set (100k keys)" "$base/set" -s bench/set.lua; ratio "$rate"
measure "always: 90% get / 10% set" "$base/" -s bench/mixed.lua; ratio "$rate"
stop_server

start_server --data-dir "$work/no" --fsync no
measure "no: GET /" "$base/"; root=$rate; echo
measure "no: POST /set (100k keys)" "$base/set" -s bench/set.lua; ratio "$rate"
stop_server

start_server --in-memory
big=$(head -c 49152 /dev/urandom | base64 -w0)   # 65,536 characters
for i in $(seq 0 15); do
  printf '%s' "$big" | curl -sf -X PUT --data-binary @- "$base/v1/kv/big-$i" >/dev/null
done
measure "memory: GET /v1/kv 64 KiB" "$base/v1/kv/big-7"
awk '/Requests\/sec/ {printf "  %.0f MB/s of payload\n", $2 * 65536 / 1e6}' "$work/wrk.log"
stop_server
