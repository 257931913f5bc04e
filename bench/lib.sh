# shellcheck shell=bash
# Shared by the bench scripts (source it): a temporary work directory that
# is removed on exit, and one release server at a time.
#   start_server ARGS...  starts target/release/server on a free loopback
#                         port with ARGS; sets $pid and $base (its URL) once
#                         it is ready. RUST_LOG defaults to warn; the
#                         server's stdout and stderr go to $work/out and
#                         $work/err.
#   stop_server           stops it gracefully and waits for it.
work=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT

start_server() {
  RUST_LOG=${RUST_LOG:-warn} KVSTORE_SERVER_HOST=127.0.0.1:0 "${SERVER:-target/release/server}" "$@" >"$work/out" 2>"$work/err" &
  pid=$!
  until grep -q "listening on" "$work/out"; do
    kill -0 "$pid" 2>/dev/null || { echo "the server did not start:" >&2; cat "$work/err" >&2; exit 1; }
    sleep 0.05
  done
  # shellcheck disable=SC2034 # used by the scripts that source this
  base=$(sed -n 's/.*listening on //p' "$work/out")
}

stop_server() { kill "$pid"; wait "$pid" || true; pid=; }
