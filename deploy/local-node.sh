#!/usr/bin/env bash
# The single-server production topology on one machine, on loopback ports:
# nats-server and HAProxy from Debian's packages, and the kv-store server
# binary. (Replicated mode's topology: deploy/local-cluster.sh.) HAProxy runs
# docker/haproxy.cfg itself, with loopback addresses given through its
# KV_LB_* variables, so this is the configuration that ships.
#
# The server's listening socket outlives the server, as with systemd's
# deploy/kv-store.socket: systemd-socket-activate (Debian's systemd package)
# binds it and, at the first connection, runs a small supervisor loop that
# keeps it open and runs one server process after another on it (passed as
# fd 3, LISTEN_FDS=1). restart-server stops only the server process; the
# loop starts the next one on the same socket, and connections that arrive
# meanwhile wait in its backlog instead of being refused.
#
#   apt-get install -y haproxy nats-server curl systemd
#   cargo build --release --bin server
#   deploy/local-node.sh start            # clients use http://127.0.0.1:8000
#   deploy/local-node.sh status
#   deploy/local-node.sh restart-server   # graceful restart; HAProxy holds requests
#   deploy/local-node.sh stop
#
# Usage: deploy/local-node.sh [--dir DIR] start|stop|restart-server|status
#
# DIR (or KV_CLUSTER_DIR; default ${TMPDIR:-/tmp}/kv-local-node) holds the
# server's data (data/), each process's log and pid file (server.pid is the
# supervisor holding the socket, server-process.pid the server itself). It
# is kept by stop, so the next start finds the data again.
#
# Environment: KV_CLUSTER_LB_PORT (8000), KV_CLUSTER_STATS_PORT (8404),
# KV_CLUSTER_SERVER_PORT (8001), KV_CLUSTER_NATS_PORT (4222),
# KV_SERVER_BIN (target/release/server, else target/debug/server, else
# `server` on PATH), KV_HAPROXY_CFG (docker/haproxy.cfg), READY_TIMEOUT
# (seconds, 60). Server settings (KVSTORE_FSYNC, RUST_LOG, ...) pass through.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/.." && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$here/lib.sh"

# Debian installs haproxy and nats-server in /usr/sbin.
export PATH="$PATH:/usr/sbin"

read_local_settings kv-local-node "$@"
set -- "${args[@]}"
command=${1:-}
lb_url=http://127.0.0.1:$lb_port
server_url=http://127.0.0.1:$server_port

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
}

# The server's supervisor (the internal command supervise-server BIN), run
# by systemd-socket-activate with the listening socket as fd 3: runs the
# server BIN on it, and again each time it exits 0 (a graceful stop by
# restart-server), with its pid in $dir/server-process.pid. Exits when the
# server fails (with its exit status), or on SIGTERM, which it passes on to
# the server, once that has stopped.
supervise_server() {
  local bin=$1 server=""
  # The server is this shell's child, not the process LISTEN_PID names; it
  # takes LISTEN_FDS without LISTEN_PID.
  unset LISTEN_PID
  trap 'kill -TERM "$server" 2>/dev/null || true; wait "$server"; exit' TERM INT
  while :; do
    "$bin" &
    server=$!
    echo "$server" >"$dir/server-process.pid"
    wait "$server" || exit
  done
}

start_server() {
  local bin name
  bin=$(server_bin)
  # systemd-socket-activate passes on only the variables given with -E:
  # the caller's server settings, then the cluster's own.
  local -a setenv=()
  for name in $(compgen -e); do
    case $name in KVSTORE_* | RUST_*) setenv+=(-E "$name") ;; esac
  done
  setenv+=(-E "KVSTORE_DATA_DIR=$dir/data" -E "KVSTORE_NATS_HOST=nats://127.0.0.1:$nats_port")
  launch server systemd-socket-activate -l "127.0.0.1:$server_port" "${setenv[@]}" \
    "$here/local-node.sh" --dir "$dir" supervise-server "$bin"
  wait_server_ready
}

# Waits until the server answers /readyz, once recovery is done: the first
# connection also starts it (socket activation). Fails as soon as the
# supervisor has exited (the server failed).
wait_server_ready() {
  local deadline=$((SECONDS + ready_timeout))
  until curl -fsS --max-time 2 -o /dev/null "$server_url/readyz" 2>/dev/null; do
    running_pid server >/dev/null || die "the server has exited: see $dir/server.log"
    ((SECONDS < deadline)) || die "$server_url/readyz did not answer 2xx within ${ready_timeout}s (see $dir/server.log)"
    sleep 0.2
  done
}

start() {
  need haproxy haproxy
  need nats-server nats-server
  need curl curl
  need systemd-socket-activate systemd
  [[ -f $haproxy_cfg ]] || die "no HAProxy configuration at $haproxy_cfg"
  mkdir -p "$dir"
  launch nats nats-server -a 127.0.0.1 -p "$nats_port"
  wait_port "$nats_port"
  start_server
  launch haproxy env \
    KV_LB_BIND="127.0.0.1:$lb_port" \
    KV_LB_STATS_BIND="127.0.0.1:$stats_port" \
    KV_LB_SERVER="127.0.0.1:$server_port" \
    haproxy -db -f "$haproxy_cfg"
  wait_lb_server_up "$stats_url" "$ready_timeout"
  echo "ready: $lb_url (HAProxy stats: $stats_url/stats, data: $dir/data)"
}

stop() {
  terminate haproxy
  # The supervisor stops the server gracefully, then closes the socket.
  terminate server
  terminate server-process
  terminate nats
}

restart_server() {
  running_pid haproxy >/dev/null || die "the cluster is not running (start it first)"
  wait_lb_server_up "$stats_url" "$ready_timeout"
  running_pid server >/dev/null || die "the server's supervisor is not running (stop, then start the cluster)"
  local started=$SECONDS
  # Only the server process: its supervisor starts the next one on the same
  # socket.
  terminate server-process
  wait_server_ready
  echo "server-process started again (pid $(running_pid server-process || echo '?'))"
  wait_lb_server_up "$stats_url" "$ready_timeout"
  echo "server restarted; HAProxy sees it UP after $((SECONDS - started))s; settling ${KV_SETTLE_SECONDS}s"
  # Lets the requests held during the restart through (see lib.sh).
  sleep "$KV_SETTLE_SECONDS"
}

status() {
  local name pid state
  for name in nats server server-process haproxy; do
    if pid=$(running_pid "$name"); then
      echo "$name: running (pid $pid)"
    else
      echo "$name: stopped"
    fi
  done
  if state=$(lb_server_state "$stats_url" 2>/dev/null); then
    echo "HAProxy's view of the server: $state"
  fi
  if curl -fsS --max-time 2 -o /dev/null "$lb_url/readyz" 2>/dev/null; then
    echo "$lb_url/readyz: ready"
  else
    echo "$lb_url/readyz: not ready"
    return 1
  fi
}

case "$command" in
  start) start ;;
  stop) stop ;;
  restart-server) restart_server ;;
  status) status ;;
  supervise-server) supervise_server "${2:?supervise-server needs the server binary}" ;;
  -h | --help) usage ;;
  *)
    usage >&2
    exit 2
    ;;
esac
