#!/usr/bin/env bash
# Where the CPU goes under one load: runs wrk -t2 -c64 against one release
# server and prints, per request, the CPU each server thread used, its
# voluntary and involuntary context switches, wrk's CPU and the machine's
# idle time (all from /proc, over the middle of the run). On a machine
# where wrk shares the cores with the server, the three add up to about
# cores / throughput: a load with idle time left is bound by latency (a
# chain of hand-overs or a sync), not by CPU.
# Usage: bench/cpu-per-request.sh LOAD [SERVER ARGS...]
#   LOAD: root (GET /), get, set, mixed (the wrk scripts in bench/);
#   SERVER ARGS default to --fsync always in a temporary data directory.
#   10,000 keys of 100 bytes are written first, as bench/targets.sh does.
set -euo pipefail
cd "$(dirname "$0")/.."
load=${1:?usage: bench/cpu-per-request.sh root|get|set|mixed [SERVER ARGS...]}
shift
case $load in
  root) path=/; script=() ;;
  get) path=/get; script=(-s bench/get.lua) ;;
  set) path=/set; script=(-s bench/set.lua) ;;
  mixed) path=/; script=(-s bench/mixed.lua) ;;
  *) echo "unknown load $load" >&2; exit 2 ;;
esac
cargo build --release --quiet --bin server --bin client
# shellcheck source=bench/lib.sh
. bench/lib.sh
if [ $# -eq 0 ]; then set -- --data-dir "$work/data" --fsync always; fi
start_server "$@"
target/release/client --host "$base" bench set --requests 10000 --keys 10000 --value-size 100 >/dev/null

# One line per thread: "tid-name cpu_ticks voluntary involuntary".
threads() {
  for task in /proc/"$pid"/task/*; do
    printf '%s-%s %s %s\n' "$(basename "$task")" "$(tr ' ' _ <"$task/comm")" \
      "$(awk '{print $14 + $15}' "$task/stat")" \
      "$(awk '/^voluntary_ctxt/ {v = $2} /^nonvoluntary_ctxt/ {n = $2} END {print v, n}' "$task/status")"
  done | sort
}
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
idle() { awk '/^cpu / {print $5}' /proc/stat; }

wrk -t2 -c64 -d8s "${script[@]}" "$base$path" >"$work/wrk.log" &
wrk_pid=$!
# Measure seconds 2 to 6 of the 8: no ramp-up, no wind-down.
sleep 2
threads >"$work/before"; wrk0=$(ticks "$wrk_pid"); idle0=$(idle)
sleep 4
threads >"$work/after"; wrk1=$(ticks "$wrk_pid"); idle1=$(idle)
wait "$wrk_pid"
stop_server

rate=$(awk '/Requests\/sec/ {print $2}' "$work/wrk.log")
hz=$(getconf CLK_TCK)
# Ticks over the 4 s window, as microseconds per request.
per_request() { echo "scale=2; $1 * 1000000 / $hz / ($rate * 4)" | bc; }
echo "$load ($*): $rate req/s"
awk '/Non-2xx|Socket errors/' "$work/wrk.log"
printf '  %-26s %8s us/req\n' "wrk" "$(per_request $((wrk1 - wrk0)))"
printf '  %-26s %8s us/req\n' "idle (all cores)" "$(per_request $((idle1 - idle0)))"
join "$work/before" "$work/after" | while read -r thread c0 v0 n0 c1 v1 n1; do
  [ "$c1" -gt "$c0" ] || continue
  printf '  %-26s %8s us/req  switches/req: %s voluntary, %s involuntary\n' "$thread" \
    "$(per_request $((c1 - c0)))" \
    "$(echo "scale=3; ($v1 - $v0) / ($rate * 4)" | bc)" \
    "$(echo "scale=3; ($n1 - $n0) / ($rate * 4)" | bc)"
done
