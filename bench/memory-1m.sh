#!/usr/bin/env bash
# Resident memory per key: 1,000,000 keys of 16 bytes with 100-byte values.
# Measures the server's RSS empty, after loading the keys over HTTP (POST
# /set through wrk, so the change feed's ring holds its last 100,000
# events too), and after a restart that recovers the same keys from disk.
# Usage: bench/memory-1m.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet --bin server
# shellcheck source=bench/lib.sh
. bench/lib.sh
start() { start_server --data-dir "$work/data" --fsync no; }
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$pid/status"; }
keys() { curl -s "$base/metrics" | awk '/^kvstore_keys / {print $2}'; }

start
empty=$(rss_kib)
THREADS=2 wrk -t2 -c16 -d60s -s bench/load-1m.lua "$base/set" >"$work/wrk.log"
loaded_keys=$(keys)
[ "$loaded_keys" = 1000000 ] || echo "note: $loaded_keys keys loaded, not 1000000 (the figures below divide by the keys really stored)" >&2
loaded=$(rss_kib)
stop_server
start
restarted_keys=$(keys)
restarted=$(rss_kib)
stop_server
per_key() { echo "scale=1; ($1 - $empty) * 1024 / $2" | bc; }
echo "empty server:          RSS $empty KiB"
echo "after loading by HTTP: RSS $loaded KiB, $loaded_keys keys, $(per_key "$loaded" "$loaded_keys") bytes/key beyond empty"
echo "after a restart:       RSS $restarted KiB, $restarted_keys keys, $(per_key "$restarted" "$restarted_keys") bytes/key beyond empty"
