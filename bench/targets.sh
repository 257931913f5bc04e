#!/usr/bin/env bash
# The throughput and latency targets of issue 7, each as a ratio to GET /
# on the same server process, with wrk -t2 -c64:
#   1. --fsync always (the default), 10,000 preloaded keys of 100 bytes:
#      GET /get?key= over the 10,000 keys, POST /set over 100,000 keys,
#      90% get / 10% set;
#   2. --fsync no: POST /set over 100,000 keys;
#   3. --in-memory, 16 values of 64 KiB: GET /v1/kv/{key}, in MB/s of payload.
# GET / is measured just before and just after each load, and the ratio is
# to their mean. This machine's speed changes in phases of seconds to
# minutes; when the two differ by more than 10%, the line says so, and
# that ratio says more about the machine than about the server.
# Prints one line per load with req/s, wrk's p99, the ratio and both GET /.
# Usage: bench/targets.sh [DURATION]   (default 10s)
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-10s}
cargo build --release --quiet --bin server --bin client
# shellcheck source=bench/lib.sh
. bench/lib.sh
# wrk URL [wrk args...]: sets $rate, $p99 and $errors.
wrk_run() {
  local url=$1; shift
  wrk -t2 -c64 -d"$duration" --latency "$@" "$url" >"$work/wrk.log"
  rate=$(awk '/Requests\/sec/ {print $2}' "$work/wrk.log")
  p99=$(awk '/ 99%/ {print $2}' "$work/wrk.log")
  errors=$(awk '/Non-2xx|Socket errors/ {print}' "$work/wrk.log" | tr '\n' ' ')
}
# against_root LABEL URL [wrk args...]: GET /, the load, GET / again; prints
# "LABEL  N req/s  p99 X  ratio R  (GET / A, B)" and leaves $rate set.
against_root() {
  local label=$1 url=$2; shift 2
  wrk_run "$base/"; local before=$rate
  wrk_run "$url" "$@"; local load=$rate load_p99=$p99 load_errors=$errors
  wrk_run "$base/"; local after=$rate
  rate=$load
  local note=
  if [ "$(echo "d = ($before - $after) * 2 / ($before + $after); d > 0.1 || d < -0.1" | bc -l)" = 1 ]; then
    note="  GET / drifted over 10%"
  fi
  printf '%-30s %10s req/s  p99 %-8s ratio %s  (GET / %s, %s)%s %s\n' "$label" "$load" "$load_p99" \
    "$(echo "scale=2; 2 * $load / ($before + $after)" | bc)" "$before" "$after" "$note" "$load_errors"
}

start_server --data-dir "$work/always" --fsync always
target/release/client --host "$base" bench set --requests 10000 --keys 10000 --value-size 100 >/dev/null
against_root "always: GET /get (10k keys)" "$base/get" -s bench/get.lua
against_root "always: POST /set (100k keys)" "$base/set" -s bench/set.lua
against_root "always: 90% get / 10% set" "$base/" -s bench/mixed.lua
stop_server

start_server --data-dir "$work/no" --fsync no
against_root "no: POST /set (100k keys)" "$base/set" -s bench/set.lua
stop_server

start_server --in-memory
big=$(head -c 49152 /dev/urandom | base64 -w0)   # 65,536 characters
for i in $(seq 0 15); do
  printf '%s' "$big" | curl -sf -X PUT --data-binary @- "$base/v1/kv/big-$i" >/dev/null
done
wrk_run "$base/v1/kv/big-7"
printf '%-30s %10s req/s  p99 %-8s %.0f MB/s of payload %s\n' "memory: GET /v1/kv 64 KiB" \
  "$rate" "$p99" "$(echo "$rate * 65536 / 1000000" | bc -l)" "$errors"
stop_server
