#!/usr/bin/env bash
# Measures POST /set (100-byte values over 100,000 keys) under each fsync
# policy and in memory, each beside GET / on the same server process, with
# wrk -t2 -c64. Prints one line per mode with the ratio set/root.
# Usage: bench/wrk-durability.sh [DURATION]
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-10s}
cargo build --release --quiet --bin server
# shellcheck source=bench/lib.sh
. bench/lib.sh

rate() { wrk -t2 -c64 -d"$duration" --latency "$@" | tee -a "$work/wrk.log" | awk '/Requests\/sec/ {print $2}'; }
p99() { awk '/ 99%/ {v=$2} END {print v}' "$work/wrk.log"; }

for mode in always everysec no in-memory; do
  if [ "$mode" = in-memory ]; then args=(--in-memory); else args=(--fsync "$mode" --data-dir "$work/data-$mode"); fi
  start_server "${args[@]}"
  : >"$work/wrk.log"
  root=$(rate "$base/")
  set=$(rate -s bench/set.lua "$base/set")
  printf '%-10s GET / %10s req/s   POST /set %10s req/s   ratio %s   set p99 %s\n' \
    "$mode" "$root" "$set" "$(echo "scale=3; $set / $root" | bc)" "$(p99)"
  stop_server
done
