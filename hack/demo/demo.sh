#!/usr/bin/env bash
# `make demo`: one command on a fresh machine. Installs what is missing (PostgreSQL, the
# Kubernetes binaries built from source, containerd & co. from Debian), brings the local
# cluster up (hack/cluster), deploys the operator and runs the demo scenarios
# (hack/demo/main.go), each in its own namespace:
#
#   DEMO=postgres  billing invoices (PostgreSQL) → the CRM's invoice table (PostgreSQL):
#                  a full run, then an incremental one (namespace checkpointed-demo;
#                  the demo's PostgreSQL: hack/demo/postgres.sh)
#   DEMO=http      the seed example, billing API → CRM API (hack/demo-services, started by
#                  hack/demo/services.sh) with config/samples/sync_v1alpha1_syncjob.yaml:
#                  a full run, a late payment, a run stopped by 429s and its resumption
#                  (namespace checkpointed-demo-http)
#   DEMO=all       both, Postgres first (the default of `make demo`)
#
# Everything stays up afterwards so that you can look; `make demo-down` stops it all.
set -euo pipefail
source "$(dirname "$0")/../cluster/lib.sh"
DEMO=${DEMO:-all}
start=$SECONDS
[ "$(id -u)" = 0 ] || die "the local cluster needs root (containerd, kubelet, iptables): run 'sudo make demo'"

case "$DEMO" in
  postgres) scenarios=(postgres) ;;
  http) scenarios=(http) ;;
  all) scenarios=(postgres http) ;;
  *) die "unknown DEMO=$DEMO (postgres, http or all)" ;;
esac
total=$((5 + 2 * ${#scenarios[@]}))
n=0
stage() { n=$((n + 1)); printf '\n==> [%s/%s] %s\n' "$n" "$total" "$1" >&2; }

# One local cluster per machine: wait while an e2e run (test/e2e, same lock) owns it. The
# lock is held until this script ends; no process started below keeps it (8>&-).
exec 8>>/var/tmp/checkpointed-e2e.lock
if ! flock -n 8; then
  log "an e2e run owns the local cluster: waiting for it to finish (at most 20 min)"
  flock -w 1200 8 || die "the e2e run still holds /var/tmp/checkpointed-e2e.lock"
fi

CP=(etcd kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl)
cache=${CHECKPOINTED_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/checkpointed}/control-plane/k8s-$K8S_VERSION-etcd-v3.7.0
missing=0
for c in "${CP[@]}"; do [ -x "$cache/$c" ] || missing=$((missing + 1)); done
if [ $missing -gt 0 ]; then
  log "first run on this machine: builds Kubernetes $K8S_VERSION from source (~10 min on 2 cores); later runs take ~2 min"
else
  log "Kubernetes binaries are cached: ~40 s to a deployed operator, then ~5 s for the Postgres scenario and ~80 s for the HTTP one (the first run on a machine builds them: ~10 min more)"
fi

stage "Kubernetes $K8S_VERSION binaries (hack/control-plane.sh, cached in $cache)"
BIN=$("$ROOT/hack/control-plane.sh" "${CP[@]}" 8>&-)
stage "PostgreSQL and the other test dependencies (hack/install-deps.sh)"
"$ROOT/hack/install-deps.sh" 8>&-
stage "images: manager, runner, pause (hack/cluster/images.sh)"
"$ROOT/hack/cluster/images.sh" 8>&-
stage "the local cluster (hack/cluster/up.sh: containerd, etcd, kube-apiserver, controller-manager, scheduler, kube-proxy, kubelet)"
"$ROOT/hack/cluster/up.sh" >/dev/null 8>&-
stage "the operator (hack/cluster/deploy.sh)"
"$ROOT/hack/cluster/deploy.sh" 8>&-

# The kubectl syncjob plugin (make build puts it in bin/ too): the demo asks it to explain
# records and ends with its status of each SyncJob.
PLUGIN=$ROOT/bin/kubectl-syncjob
(cd "$ROOT" && CGO_ENABLED=0 go build -trimpath -o "$PLUGIN" ./cmd/kubectl-syncjob) 8>&-
demo() { (cd "$ROOT" && go run ./hack/demo -kubeconfig "$KUBECONFIG_ADMIN" -kubectl "$BIN/kubectl" -plugin "$PLUGIN" "$@") 8>&-; }
timings=()
for s in "${scenarios[@]}"; do
  t0=$SECONDS
  case "$s" in
    postgres)
      stage "the demo's PostgreSQL (hack/demo/postgres.sh)"
      "$ROOT/hack/demo/postgres.sh" start 8>&-
      read -r port gw <"$W/demo/address"
      stage "the Postgres demo: billing.invoices → crm.crm_invoices (hack/demo/main.go, namespace checkpointed-demo)"
      demo -demo postgres -port "$port" -pod-host "$gw"
      ;;
    http)
      stage "the demo's billing API and CRM (hack/demo/services.sh: hack/demo-services)"
      # A bearer token per API, made up here: only the services and the Secrets hold them.
      DEMO_BILLING_TOKEN=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
      DEMO_CRM_TOKEN=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
      export DEMO_BILLING_TOKEN DEMO_CRM_TOKEN
      "$ROOT/hack/demo/services.sh" start 8>&-
      read -r bport cport gw <"$W/demo-http/address"
      stage "the HTTP demo, the seed example: billing API → CRM API (hack/demo/main.go, namespace checkpointed-demo-http)"
      demo -demo http -billing-url "http://127.0.0.1:$bport" -crm-url "http://127.0.0.1:$cport" -pod-host "$gw"
      unset DEMO_BILLING_TOKEN DEMO_CRM_TOKEN
      ;;
  esac
  timings+=("$s $((SECONDS - t0))s")
done
flock -u 8

# The three answers for each SyncJob of the demo: did it run, how far did it get, what next.
for s in "${scenarios[@]}"; do
  case "$s" in
    postgres) ns=checkpointed-demo ;;
    http) ns=checkpointed-demo-http ;;
  esac
  printf '\n$ kubectl syncjob status invoices-to-crm -n %s\n' "$ns"
  "$PLUGIN" status invoices-to-crm -n "$ns" --kubeconfig "$KUBECONFIG_ADMIN" || log "kubectl syncjob status failed for $ns"
done

cat <<MSG

Demo done in $((SECONDS - start))s (${timings[*]}). Everything is still running. Try this next:

  export KUBECONFIG=$KUBECONFIG_ADMIN PATH=$ROOT/bin:\$PATH   # kubectl finds the plugin kubectl-syncjob on PATH
  alias kubectl=$BIN/kubectl
MSG
for s in "${scenarios[@]}"; do
  case "$s" in
    postgres) cat <<MSG

  # The Postgres demo (namespace checkpointed-demo; PostgreSQL on 127.0.0.1:$port)
  kubectl -n checkpointed-demo get syncjobs,cronjobs,jobs,pods
  kubectl -n checkpointed-demo describe syncjob invoices-to-crm
  kubectl -n checkpointed-demo get configmap invoices-to-crm-checkpoint -o jsonpath='{.data.checkpoint\.json}'
  psql -h 127.0.0.1 -p $port -U postgres crm -c 'SELECT * FROM crm_invoices LIMIT 5'
  psql -h 127.0.0.1 -p $port -U postgres billing -c "UPDATE invoices SET total = total + 1, updated_at = now() WHERE id <= 10"
  kubectl -n checkpointed-demo annotate --overwrite syncjob invoices-to-crm sync.checkpointed.io/run-requested-at="\$(date +%s)"
  kubectl syncjob run invoices-to-crm -n checkpointed-demo --wait      # the same, following the run to its end
  kubectl syncjob status invoices-to-crm -n checkpointed-demo
  kubectl syncjob explain invoices-to-crm 42 -n checkpointed-demo
MSG
      ;;
    http) cat <<MSG

  # The HTTP demo (namespace checkpointed-demo-http; billing API on 127.0.0.1:$bport, CRM on 127.0.0.1:$cport,
  # log $W/demo-http/services.log; admin endpoints need no token)
  kubectl -n checkpointed-demo-http get syncjobs,jobs,pods
  kubectl -n checkpointed-demo-http describe syncjob invoices-to-crm
  kubectl -n checkpointed-demo-http get events --sort-by=.lastTimestamp
  CRM_TOKEN=\$(kubectl -n checkpointed-demo-http get secret crm-api -o jsonpath='{.data.token}' | base64 -d)
  curl -s -H "Authorization: Bearer \$CRM_TOKEN" 'http://127.0.0.1:$cport/invoices?limit=3'
  curl -s http://127.0.0.1:$bport/admin/stats; curl -s http://127.0.0.1:$cport/admin/duplicates
  curl -s -X POST http://127.0.0.1:$bport/admin/invoices/inv_00002/pay          # pay an invoice now
  curl -s -X PUT http://127.0.0.1:$bport/admin/faults -d '{"ratePerSecond": 20, "failProbability": 0.2}'   # 5xx on 20 % of requests
  kubectl -n checkpointed-demo-http annotate --overwrite syncjob invoices-to-crm sync.checkpointed.io/run-requested-at="\$(date +%s)"
  kubectl syncjob status invoices-to-crm -n checkpointed-demo-http
  kubectl syncjob history invoices-to-crm -n checkpointed-demo-http
  kubectl syncjob logs invoices-to-crm -n checkpointed-demo-http
MSG
      ;;
  esac
done
cat <<MSG

Stop it all with: make demo-down
MSG
