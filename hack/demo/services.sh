#!/usr/bin/env bash
# The demo's billing API and CRM (hack/demo-services) for `make demo DEMO=http`, which
# outlive `make demo` so that you can look at them:
#
#   hack/demo/services.sh start   # fresh data: binary, pid, log and addresses under $W/demo-http
#   hack/demo/services.sh stop    # SIGTERM (SIGKILL after 10 s); removes $W/demo-http
#
# Both listen on 127.0.0.1 (for you and the demo program) and on the pod bridge's gateway
# (for the runner Pods), billing on $DEMO_BILLING_PORT (default 18081), the CRM on
# $DEMO_CRM_PORT (default 18082). Each API requires its own bearer token, read at start from
# $DEMO_BILLING_TOKEN and $DEMO_CRM_TOKEN (hack/demo/demo.sh makes them up; the Secrets
# billing-api and crm-api in the namespace checkpointed-demo-http hold them). The billing
# API holds 2,000 invoices of 50 customers, updated over the last month up to about an hour
# ago, and answers more than 20 requests a second with 429. $W is the local cluster's work
# dir; hack/cluster/down.sh deletes it, and the services stop when their dir is gone.
set -euo pipefail
source "$(dirname "$0")/../cluster/lib.sh"
D=$W/demo-http
BILLING_PORT=${DEMO_BILLING_PORT:-18081}
CRM_PORT=${DEMO_CRM_PORT:-18082}

# pid prints the services' PID when that process is still the demo's services.
pid() {
  local p
  p=$(cat "$D/services.pid" 2>/dev/null) || return 1
  [ -n "$p" ] && [ -d "/proc/$p" ] && cmdline_has "$p" "$D/demo-services" && echo "$p"
}

# stopped: the services no longer run (an exited process that is not yet reaped counts as
# stopped: its command line is empty).
stopped() { ! pid >/dev/null; }

stop() {
  local p
  if p=$(pid); then
    kill -TERM "$p"
    wait_for 10 "the demo services (pid $p) to stop" stopped || kill -KILL "$p" 2>/dev/null || true
    log "stopped the demo's billing API and CRM (pid $p)"
  fi
  rm -rf "$D"
}

start() {
  local gw port
  [ -n "${DEMO_BILLING_TOKEN:-}" ] && [ -n "${DEMO_CRM_TOKEN:-}" ] ||
    die "DEMO_BILLING_TOKEN and DEMO_CRM_TOKEN must hold the APIs' bearer tokens"
  gw=$(ip -4 -o addr show "$BRIDGE" 2>/dev/null | awk '{split($4, a, "/"); print a[1]; exit}')
  [ -n "$gw" ] || die "the pod bridge $BRIDGE has no address: is the cluster up and a pod running (make cluster-up deploy)?"
  stop
  for port in "$BILLING_PORT" "$CRM_PORT"; do
    if ss -Htln "sport = :$port" | grep -q .; then
      die "port $port is in use by another process: set DEMO_BILLING_PORT / DEMO_CRM_PORT"
    fi
  done
  mkdir -p "$D"
  (cd "$ROOT" && go build -o "$D/demo-services" ./hack/demo-services)
  # 2,000 invoices created evenly over 30 days ending 3 days ago, a third of them paid up to
  # 3 days later: every updated_at lies in the past, the newest about an hour ago.
  # Its own session, no terminal, and none of this shell's other descriptors (a lock):
  # it outlives `make demo`.
  setsid "$D/demo-services" \
    -billing-addr "127.0.0.1:$BILLING_PORT,$gw:$BILLING_PORT" -crm-addr "127.0.0.1:$CRM_PORT,$gw:$CRM_PORT" \
    -invoices 2000 -customers 50 -spread 720h -start-ago 793h -billing-rate 20 \
    -billing-api-key-env DEMO_BILLING_TOKEN -crm-api-key-env DEMO_CRM_TOKEN \
    -pid-file "$D/services.pid" -stop-when-missing "$D" -v 1 \
    </dev/null >"$D/services.out" 2>"$D/services.log" 8>&- 9>&- &
  if ! wait_for 30 "the demo services to listen" grep -q '^CRM_URL=' "$D/services.out"; then
    tail -n 20 "$D/services.log" >&2
    die "the demo services did not start (log: $D/services.log)"
  fi
  echo "$BILLING_PORT $CRM_PORT $gw" >"$D/address"
  log "the demo's billing API and CRM run (pid $(pid), log $D/services.log): billing on 127.0.0.1:$BILLING_PORT and, for pods, $gw:$BILLING_PORT; the CRM on 127.0.0.1:$CRM_PORT and $gw:$CRM_PORT"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
