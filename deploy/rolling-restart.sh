#!/usr/bin/env bash
# Restarts the kv-store server of the Compose setup (docker/docker-compose.yml)
# without a failed request: HAProxy holds and retries requests while the
# server is away (see docker/haproxy.cfg).
#
#   deploy/rolling-restart.sh            # restart the server container
#   deploy/rolling-restart.sh --build    # build a new image first, then switch to it
#
# Steps: wait until HAProxy sees the server healthy; (build the image); stop
# the server gracefully (SIGTERM; it finishes in-flight requests, syncs its
# log, exits 0); start it, recreated if its image or settings changed; wait
# until HAProxy's health checks (GET /readyz) see it UP again and /readyz
# answers through HAProxy. Run it from anywhere; it needs docker and curl.
#
# Environment: COMPOSE_FILE (default docker/docker-compose.yml),
# STOP_TIMEOUT (seconds before SIGKILL, default 35), READY_TIMEOUT (seconds,
# default 120), KV_LB_URL (default http://127.0.0.1:8000), KV_LB_STATS_URL
# (default http://127.0.0.1:8404).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$here/lib.sh"

compose_file=${COMPOSE_FILE:-$here/../docker/docker-compose.yml}
stop_timeout=${STOP_TIMEOUT:-35}
ready_timeout=${READY_TIMEOUT:-120}
lb_url=${KV_LB_URL:-http://127.0.0.1:8000}
stats_url=${KV_LB_STATS_URL:-http://127.0.0.1:8404}
service=server

build=false
case "${1:-}" in
  "") ;;
  --build) build=true ;;
  -h | --help)
    sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
    exit 0
    ;;
  *) die "unknown argument: $1 (try --help)" ;;
esac

compose() {
  docker compose -f "$compose_file" "$@"
}

echo "== checking that HAProxy sees the server healthy before restarting it"
wait_lb_server_up "$stats_url" "$ready_timeout"

if $build; then
  # Before the stop, so the server is away only for the restart itself.
  echo "== building the image"
  compose build "$service"
fi

started=$SECONDS
echo "== stopping $service gracefully (SIGTERM, up to ${stop_timeout}s)"
# Stops only this service's container: HAProxy keeps running and holds the
# requests meanwhile.
compose stop --timeout "$stop_timeout" "$service"

echo "== starting $service"
# --no-deps: leave NATS and HAProxy alone. Recreates the container when its
# image or settings changed, otherwise starts the stopped one.
compose up --detach --no-deps "$service"

echo "== waiting until HAProxy sees $service UP"
wait_lb_server_up "$stats_url" "$ready_timeout"
wait_http_ok "$lb_url/readyz" "$ready_timeout"
echo "== $service restarted and ready in $((SECONDS - started))s; settling ${KV_SETTLE_SECONDS}s"
# Lets the requests held during the restart through before this script
# returns, so that a next restart right after cannot catch them again.
sleep "$KV_SETTLE_SECONDS"
