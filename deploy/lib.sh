# shellcheck shell=bash
# Helpers shared by deploy/rolling-restart.sh, deploy/local-node.sh and
# deploy/local-cluster.sh. Sourced, not run. Needs curl and awk. The process
# helpers keep pid files and logs in $dir and find the workspace at $top,
# which the sourcing script sets, and wait on $ready_timeout seconds.
# shellcheck disable=SC2154 # dir, top and ready_timeout: set by the caller

# The name of the server line in docker/haproxy.cfg's backend.
KV_LB_SERVER_NAME=${KV_LB_SERVER_NAME:-kv1}

die() {
  echo "error: $*" >&2
  exit 1
}

# The settings deploy/local-node.sh and deploy/local-cluster.sh share: the
# directory ("--dir DIR" as the first arguments, else KV_CLUSTER_DIR, else
# $TMPDIR/$1) and the ports and files the environment names (see either
# script's header). Sets dir, args (the arguments after --dir), lb_port,
# stats_port, server_port, nats_port, haproxy_cfg, ready_timeout, stats_url.
# shellcheck disable=SC2034 # the variables are the sourcing script's
read_local_settings() {
  local default=$1
  shift
  dir=${KV_CLUSTER_DIR:-${TMPDIR:-/tmp}/$default}
  if [[ ${1:-} == --dir ]]; then
    [[ $# -ge 2 ]] || die "--dir needs a directory"
    dir=$2
    shift 2
  fi
  args=("$@")
  lb_port=${KV_CLUSTER_LB_PORT:-8000}
  stats_port=${KV_CLUSTER_STATS_PORT:-8404}
  server_port=${KV_CLUSTER_SERVER_PORT:-8001}
  nats_port=${KV_CLUSTER_NATS_PORT:-4222}
  haproxy_cfg=${KV_HAPROXY_CFG:-$top/docker/haproxy.cfg}
  ready_timeout=${READY_TIMEOUT:-60}
  stats_url=http://127.0.0.1:$stats_port
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

server_bin() {
  if [[ -n ${KV_SERVER_BIN:-} ]]; then
    echo "$KV_SERVER_BIN"
  elif [[ -x $top/target/release/server ]]; then
    echo "$top/target/release/server"
  elif [[ -x $top/target/debug/server ]]; then
    echo "$top/target/debug/server"
  elif command -v server >/dev/null 2>&1; then
    command -v server
  else
    die "no server binary: run 'cargo build --release --bin server' or set KV_SERVER_BIN"
  fi
}

need() {
  command -v "$1" >/dev/null 2>&1 || die "$1 is not installed (apt-get install -y $2)"
}

# The pid in $dir/NAME.pid, if that process is running.
running_pid() {
  local pid
  pid=$(cat "$dir/$1.pid" 2>/dev/null) || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  echo "$pid"
}

# Starts NAME (the rest: the command) in the background, logging to
# $dir/NAME.log, unless it is already running.
launch() {
  local name=$1
  shift
  if running_pid "$name" >/dev/null; then
    echo "$name is already running (pid $(running_pid "$name"))"
    return 0
  fi
  nohup "$@" >>"$dir/$name.log" 2>&1 </dev/null &
  echo $! >"$dir/$name.pid"
  echo "$name started (pid $!, log $dir/$name.log)"
}

# Sends SIGTERM to NAME and waits until it has exited.
terminate() {
  local name=$1 pid deadline=$((SECONDS + 40))
  pid=$(running_pid "$name") || {
    rm -f "$dir/$name.pid"
    return 0
  }
  kill -TERM "$pid"
  while kill -0 "$pid" 2>/dev/null; do
    ((SECONDS < deadline)) || die "$name (pid $pid) did not exit within 40s after SIGTERM"
    sleep 0.1
  done
  # Unless a successor has written its own pid there meanwhile (the server's
  # supervisor does, on a restart).
  if [[ $(cat "$dir/$name.pid" 2>/dev/null) == "$pid" ]]; then
    rm -f "$dir/$name.pid"
  fi
  echo "$name stopped (pid $pid)"
}

# Waits until something accepts TCP connections on 127.0.0.1:$1.
wait_port() {
  local deadline=$((SECONDS + ready_timeout))
  until (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; do
    ((SECONDS < deadline)) || die "nothing listens on 127.0.0.1:$1 after ${ready_timeout}s"
    sleep 0.1
  done
}
