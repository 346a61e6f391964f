#!/usr/bin/env bash
# `make demo`: one command on a fresh machine. Installs what is missing (PostgreSQL, the
# Kubernetes binaries built from source, containerd & co. from Debian), brings the local
# cluster up (hack/cluster), deploys the operator, starts the demo's PostgreSQL
# (hack/demo/postgres.sh) and runs the demo scenario:
#
#   DEMO=postgres (default)  billing invoices (PostgreSQL) → the CRM's invoice table
#                            (PostgreSQL): a full run, then an incremental one
#   DEMO=http                billing API → CRM API (hack/demo-services): not built yet
#
# Everything stays up afterwards so that you can look; `make demo-down` stops it all.
set -euo pipefail
source "$(dirname "$0")/../cluster/lib.sh"
DEMO=${DEMO:-postgres}
start=$SECONDS
[ "$(id -u)" = 0 ] || die "the local cluster needs root (containerd, kubelet, iptables): run 'sudo make demo'"

case "$DEMO" in
  postgres) ;;
  http)
    # Hook for the HTTP variant: start hack/demo-services (billing and CRM APIs) on this
    # machine, reachable from pods like the PostgreSQL here, and apply an http → http SyncJob.
    die "DEMO=http (billing API → CRM API through hack/demo-services) is not built yet; run DEMO=postgres" ;;
  *) die "unknown DEMO=$DEMO (postgres or http)" ;;
esac

stage() { printf '\n==> [%s/7] %s\n' "$1" "$2" >&2; }

CP=(etcd kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl)
cache=${CHECKPOINTED_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/checkpointed}/control-plane/k8s-$K8S_VERSION-etcd-v3.7.0
missing=0
for c in "${CP[@]}"; do [ -x "$cache/$c" ] || missing=$((missing + 1)); done
if [ $missing -gt 0 ]; then
  log "first run on this machine: builds Kubernetes $K8S_VERSION from source (~10 min on 2 cores); later runs take ~1 min"
else
  log "Kubernetes binaries are cached: this takes ~1 min (the first run on a machine builds them: ~10 min)"
fi

stage 1 "Kubernetes $K8S_VERSION binaries (hack/control-plane.sh, cached in $cache)"
BIN=$("$ROOT/hack/control-plane.sh" "${CP[@]}")
stage 2 "PostgreSQL and the other test dependencies (hack/install-deps.sh)"
"$ROOT/hack/install-deps.sh"
stage 3 "images: manager, runner, pause (hack/cluster/images.sh)"
"$ROOT/hack/cluster/images.sh"
stage 4 "the local cluster (hack/cluster/up.sh: containerd, etcd, kube-apiserver, controller-manager, scheduler, kube-proxy, kubelet)"
"$ROOT/hack/cluster/up.sh" >/dev/null
stage 5 "the operator (hack/cluster/deploy.sh)"
"$ROOT/hack/cluster/deploy.sh"
stage 6 "the demo's PostgreSQL (hack/demo/postgres.sh)"
"$ROOT/hack/demo/postgres.sh" start
read -r port gw <"$W/demo/address"
stage 7 "the demo: billing.invoices → crm.crm_invoices (hack/demo/main.go)"
(cd "$ROOT" && go run ./hack/demo -port "$port" -pod-host "$gw" -kubeconfig "$KUBECONFIG_ADMIN" -kubectl "$BIN/kubectl")

cat <<MSG

Demo done in $((SECONDS - start))s. Everything is still running; have a look:

  export KUBECONFIG=$KUBECONFIG_ADMIN
  alias kubectl=$BIN/kubectl
  kubectl -n checkpointed-demo get syncjobs,cronjobs,jobs,pods
  kubectl -n checkpointed-demo describe syncjob invoices-to-crm
  kubectl -n checkpointed-demo get configmap invoices-to-crm-checkpoint -o jsonpath='{.data.checkpoint\.json}'
  psql -h 127.0.0.1 -p $port -U postgres crm -c 'SELECT * FROM crm_invoices LIMIT 5'
  psql -h 127.0.0.1 -p $port -U postgres billing -c "UPDATE invoices SET total = total + 1, updated_at = now() WHERE id <= 10"
  kubectl -n checkpointed-demo annotate --overwrite syncjob invoices-to-crm sync.checkpointed.io/run-requested-at="\$(date +%s)"

Stop it all with: make demo-down
MSG
