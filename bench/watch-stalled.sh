#!/usr/bin/env bash
# Watchers that never read (issue 14): POST /set of 64 KiB values under
# wrk -t2 -c64 --latency, first with no watcher, then with WATCHERS watch
# streams (prev=true) that never read (bench/stalled_watchers.py), against
# one release server (--in-memory, default budgets). Prints each run's
# throughput and p99, the server's peak resident memory while the watchers
# were open (VmHWM, reset before), its resident memory after they closed,
# and how many watchers were cut and got their resume event.
# Usage: bench/watch-stalled.sh [WATCHERS] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
watchers=${1:-1024}
seconds=${2:-20}
cargo build --release --quiet --bin server
# shellcheck source=bench/lib.sh
. bench/lib.sh
# 1,024 watchers and wrk need more descriptors than some shells allow.
ulimit -n "$(ulimit -Hn)"
status() { awk -v f="$1:" '$1 == f {print $2}' "/proc/$pid/status"; }
metric() { curl -s "$base/metrics" | awk -v m="$1" '$1 == m {print $2}'; }
load() { wrk -t2 -c64 -d"${seconds}s" --latency -s bench/set-64k.lua "$base/set"; }
summary() { awk '/Requests\/sec/ {r=$2} / 99%/ {p=$2} END {print r " req/s, p99 " p}' "$1"; }
mib() { echo "scale=1; $1 / 1024" | bc; }

start_server --in-memory
rss_start=$(status VmRSS)
load >"$work/alone"
rss_loaded=$(status VmRSS)

mkfifo "$work/control"
python3 bench/stalled_watchers.py "${base#http://}" "$watchers" prev=true "$work/control" >"$work/watchers" &
streams=$!
until grep -q '^open' "$work/watchers"; do
  kill -0 "$streams" 2>/dev/null || { echo "the watchers did not open" >&2; exit 1; }
  sleep 0.1
done
rss_open=$(status VmRSS)
echo 5 >"/proc/$pid/clear_refs" # reset VmHWM: the peak from here on
load >"$work/with"
peak=$(status VmHWM)
cut=$(metric kvstore_watchers_cut_total)
buffered=$(metric kvstore_watch_buffered_bytes)
echo read >"$work/control"
wait "$streams"
sleep 2
rss_closed=$(status VmRSS)
open_after=$(metric kvstore_watchers)

echo "POST /set, 64 KiB values, no watcher:              $(summary "$work/alone")"
echo "POST /set, 64 KiB values, $watchers stalled watchers: $(summary "$work/with")"
echo "server RSS: start $(mib "$rss_start") MiB, after the first load $(mib "$rss_loaded") MiB, watchers open $(mib "$rss_open") MiB"
echo "server peak RSS with the watchers: $(mib "$peak") MiB (budgets: feed ring 64 MiB + all watch buffers 128 MiB)"
echo "watch buffers at the end of the load: $buffered bytes; watchers cut: $cut"
echo "server RSS 2 s after the watchers closed: $(mib "$rss_closed") MiB; watch streams open: $open_after"
echo "watchers: $(tail -n 1 "$work/watchers")"
