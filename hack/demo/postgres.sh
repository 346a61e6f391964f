#!/usr/bin/env bash
# The demo's PostgreSQL server, which outlives `make demo` so that you can look at the data:
#
#   hack/demo/postgres.sh start   # a fresh server: data dir, log and pid under $W/demo
#   hack/demo/postgres.sh stop    # fast shutdown; removes $W/demo
#
# It listens on 127.0.0.1 (for you and the demo program) and on the pod bridge's gateway
# address (for the runner Pods; the bridge exists once a pod runs), port $DEMO_PG_PORT
# (default 15432). Loopback connections are trusted; from the pod network only the role
# demo_runner may log in, with its password (hack/demo/main.go sets it). $W is the local
# cluster's work dir (CHECKPOINTED_CLUSTER_DIR, default /var/tmp/checkpointed-cluster);
# hack/cluster/down.sh deletes it, and a server whose data dir is gone shuts itself down.
set -euo pipefail
source "$(dirname "$0")/../cluster/lib.sh"
D=$W/demo
PGDATA=$D/pgdata
PORT=${DEMO_PG_PORT:-15432}

pg_bin() {
  local d
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r) "$(dirname "$(command -v pg_ctl 2>/dev/null || echo /nonexistent/x)")"; do
    [ -x "$d/pg_ctl" ] && [ -x "$d/initdb" ] && { echo "$d"; return; }
  done
  die "PostgreSQL server binaries (initdb, pg_ctl) not found: run hack/install-deps.sh"
}

# The server's user: PostgreSQL refuses to run as root.
pg_user() {
  if [ "$(id -u)" != 0 ]; then id -un; return; fi
  id postgres >/dev/null 2>&1 && { echo postgres; return; }
  echo nobody
}

as_user() { if [ "$(id -u)" = 0 ]; then runuser -u "$USER_PG" -- "$@"; else "$@"; fi; }

running() { [ -f "$PGDATA/postmaster.pid" ] && as_user "$BIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1; }

stop() {
  if [ -d "$PGDATA" ] && running; then
    as_user "$BIN/pg_ctl" -D "$PGDATA" -m fast -w -t 60 stop >/dev/null
    log "stopped the demo's PostgreSQL"
  fi
  rm -rf "$D"
}

start() {
  local gw
  gw=$(ip -4 -o addr show "$BRIDGE" 2>/dev/null | awk '{split($4, a, "/"); print a[1]; exit}')
  [ -n "$gw" ] || die "the pod bridge $BRIDGE has no address: is the cluster up and a pod running (make cluster-up deploy)?"
  if ! running && ss -Htln "sport = :$PORT" | grep -q .; then
    die "port $PORT is in use by another process: set DEMO_PG_PORT"
  fi
  stop
  mkdir -p "$D"
  chown "$USER_PG" "$D"
  as_user "$BIN/initdb" -D "$PGDATA" -U postgres -A trust -E UTF8 --locale=C --no-sync --no-instructions >/dev/null
  cat >"$PGDATA/pg_hba.conf" <<HBA
local all all trust
host all all 127.0.0.1/32 trust
host all demo_runner $POD_CIDR scram-sha-256
HBA
  # Its own session: the server outlives this shell and ignores its terminal.
  as_user setsid "$BIN/pg_ctl" -D "$PGDATA" -l "$D/postgres.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1,$gw -c port=$PORT -c unix_socket_directories=$D -c TimeZone=UTC" start >/dev/null
  head -1 "$PGDATA/postmaster.pid" >"$D/postgres.pid"
  echo "$PORT $gw" >"$D/address"
  log "the demo's PostgreSQL runs (pid $(cat "$D/postgres.pid"), data $PGDATA, log $D/postgres.log) on 127.0.0.1:$PORT and, for pods, $gw:$PORT"
}

BIN=$(pg_bin)
USER_PG=$(pg_user)
case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
