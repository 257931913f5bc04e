#!/usr/bin/env bash
# Bulk loads end to end: `client import` of 1,000,000 keys (16-byte keys,
# 100-byte values, NDJSON as `client export` writes it) into an empty
# server with --fsync always, then `client export` of them all to a file.
# Prints the time and keys/s of each, and checks the export's line count.
# Usage: bench/bulk-1m.sh [KEYS]
#   SERVER, CLIENT: the binaries (default target/release/server, client),
#   so that two builds can be compared with the same script.
set -euo pipefail
cd "$(dirname "$0")/.."
keys=${1:-1000000}
if [ -z "${SERVER:-}${CLIENT:-}" ]; then
  cargo build --release --quiet --bin server --bin client
fi
client=${CLIENT:-target/release/client}
# shellcheck source=bench/lib.sh
. bench/lib.sh

python3 - "$keys" >"$work/in.ndjson" <<'PY'
import sys
value = "v" * 100
out = sys.stdout
for i in range(int(sys.argv[1])):
    out.write('{"key":"key-%012d","value":"%s"}\n' % (i, value))
PY
echo "$(wc -l <"$work/in.ndjson") records, $(du -h "$work/in.ndjson" | cut -f1)B to import"

start_server --data-dir "$work/data" --fsync always
seconds() { python3 -c "import sys; print(f'{float(sys.argv[1]):.2f}')" "$1"; }
rate() { python3 -c "import sys; print(f'{int(sys.argv[1]) / float(sys.argv[2]):,.0f}')" "$1" "$2"; }

t0=$(date +%s.%N)
KVSTORE_SERVER_HOST=$base "$client" import "$work/in.ndjson" >/dev/null
t1=$(date +%s.%N)
import_s=$(echo "$t1 - $t0" | bc)
echo "import: $keys keys in $(seconds "$import_s") s: $(rate "$keys" "$import_s") keys/s"

t0=$(date +%s.%N)
KVSTORE_SERVER_HOST=$base "$client" export >"$work/out.ndjson" 2>/dev/null
t1=$(date +%s.%N)
export_s=$(echo "$t1 - $t0" | bc)
exported=$(wc -l <"$work/out.ndjson")
echo "export: $exported keys in $(seconds "$export_s") s: $(rate "$exported" "$export_s") keys/s"
[ "$exported" -eq "$keys" ] || { echo "export has $exported lines, expected $keys" >&2; exit 1; }
stop_server
