#!/usr/bin/env bash
# What the log level costs reads: GET /get under wrk -t2 -c64 (10,000 keys,
# 100-byte values) with the server's default log level (info, as with no
# RUST_LOG) and with RUST_LOG=warn, alternating, ROUNDS times each, on one
# release build. With --access-log as an extra argument, the default level
# logs every request.
# Usage: bench/access-log.sh [ROUNDS] [SECONDS] [SERVER ARGS...]
#   SERVER, CLIENT: the binaries (default target/release/server, client).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-2}
seconds=${2:-10}
shift $(($# < 2 ? $# : 2))
if [ -z "${SERVER:-}${CLIENT:-}" ]; then
  cargo build --release --quiet --bin server --bin client
fi
client=${CLIENT:-target/release/client}
# shellcheck source=bench/lib.sh
. bench/lib.sh

for round in $(seq "$rounds"); do
  for level in info warn; do
    RUST_LOG=$level start_server --in-memory "$@"
    KVSTORE_SERVER_HOST=$base "$client" bench set --requests 10000 --keys 10000 >/dev/null 2>&1
    rate=$(wrk -t2 -c64 -d"${seconds}s" -s bench/get.lua "$base" | awk '/Requests\/sec/ {print $2}')
    label=$([ "$level" = info ] && echo "default (info)" || echo "RUST_LOG=warn")
    printf 'round %s  %-15s %s req/s\n' "$round" "$label" "$rate"
    stop_server
  done
done
