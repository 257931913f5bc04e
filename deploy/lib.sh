# shellcheck shell=bash
# Helpers shared by deploy/rolling-restart.sh and deploy/local-cluster.sh.
# Sourced, not run. Needs curl and awk.

# The name of the server line in docker/haproxy.cfg's backend.
KV_LB_SERVER_NAME=${KV_LB_SERVER_NAME:-kv1}

die() {
  echo "error: $*" >&2
  exit 1
}

# Prints HAProxy's view of the server, "STATUS,CHECK" (for example "UP,L7OK"
# or "UP 2/5,L4CON" while checks fail), from the stats page at $1 (such as
# http://127.0.0.1:8404). Fails when the stats page does not answer.
lb_server_state() {
  curl -fsS --max-time 2 "$1/stats;csv" \
    | awk -F, -v name="$KV_LB_SERVER_NAME" '
        NR == 1 { sub(/^# /, ""); for (i = 1; i <= NF; i++) col[$i] = i; next }
        $col["svname"] == name { print $col["status"] "," $col["check_status"]; found = 1; exit }
        END { exit !found }'
}

# Waits until HAProxy (stats page $1) sees the server fully UP, its last
# health check (GET /readyz) passed, for at most $2 seconds.
wait_lb_server_up() {
  local stats=$1 timeout=$2 state="" deadline=$((SECONDS + $2))
  while ((SECONDS < deadline)); do
    state=$(lb_server_state "$stats" 2>/dev/null || true)
    [[ $state == "UP,L7OK" ]] && return 0
    sleep 0.2
  done
  die "HAProxy did not see the server UP within ${timeout}s (last state: ${state:-no answer from $stats})"
}

# How long a server must stay up after a restart before the next one:
# requests that waited out the restart are retried within HAProxy's retry
# pause (1 s, see docker/haproxy.cfg); stopping the server again sooner could
# make their next attempt fail too.
KV_SETTLE_SECONDS=${KV_SETTLE_SECONDS:-2}

# Waits until GET $1 answers 2xx, for at most $2 seconds.
wait_http_ok() {
  local url=$1 timeout=$2 deadline=$((SECONDS + $2))
  while ((SECONDS < deadline)); do
    curl -fsS --max-time 2 -o /dev/null "$url" 2>/dev/null && return 0
    sleep 0.2
  done
  die "$url did not answer 2xx within ${timeout}s"
}
