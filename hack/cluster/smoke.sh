#!/usr/bin/env bash
# Smoke check of the deployed operator (make cluster-up deploy): a SyncJob whose database
# cannot be reached (127.0.0.1:1) must get its CronJob; a Job created from that CronJob must
# run the runner image (non-root, read-only root filesystem) and record a failed lastRun with
# reason SetupFailed in the SyncJob's status. Prints what it saw; cleans up its namespace.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
NS=${SMOKE_NAMESPACE:-checkpointed-smoke}
[ -f "$KUBECONFIG_ADMIN" ] || die "no cluster: run 'make cluster-up deploy' first"
BIN=$("$ROOT/hack/control-plane.sh" kubectl)
trap 'kctl delete namespace "$NS" --ignore-not-found --wait=false >/dev/null' EXIT

kctl delete namespace "$NS" --ignore-not-found --timeout=60s >/dev/null
kctl create namespace "$NS" >/dev/null
kctl -n "$NS" create secret generic db \
  --from-literal=dsn='postgres://smoke:not-a-real-password@127.0.0.1:1/smoke?sslmode=disable&connect_timeout=3' >/dev/null
kctl -n "$NS" apply -f - >/dev/null <<YAML
apiVersion: sync.checkpointed.io/v1alpha1
kind: SyncJob
metadata:
  name: smoke
spec:
  purpose: Smoke check of the local cluster path.
  owner: dev@example.com
  schedule: "0 2 * * *"
  source:
    name: billing
    postgres: {dsn: {name: db, key: dsn}, table: invoices}
  sink:
    postgres: {dsn: {name: db, key: dsn}, table: crm_invoices}
  key: {field: billing_invoice_id}
  mapping:
  - {to: status, from: status, type: string}
YAML
wait_for 30 "the CronJob" kctl -n "$NS" get cronjob smoke
log "controller created cronjob/smoke (image $(kctl -n "$NS" get cronjob smoke -o jsonpath='{.spec.jobTemplate.spec.template.spec.containers[0].image}'))"
kctl -n "$NS" create job --from=cronjob/smoke test-run >/dev/null
terminated() { kctl -n "$NS" get pods -l job-name=test-run -o jsonpath='{.items[0].status.containerStatuses[0].state.terminated.exitCode}' | grep -q .; }
wait_for 90 "the runner pod to terminate" terminated || { kctl -n "$NS" describe pods >&2; exit 1; }
reason_is() { [ "$(kctl -n "$NS" get syncjob smoke -o jsonpath='{.status.lastRun.reason}')" = "$1" ]; }
wait_for 30 "lastRun.reason SetupFailed" reason_is SetupFailed || { kctl -n "$NS" get syncjob smoke -o yaml >&2; exit 1; }

pod=$(kctl -n "$NS" get pods -l job-name=test-run -o name | head -1)
echo "--- kubectl get syncjobs -o wide"
kctl -n "$NS" get syncjobs -o wide
echo "--- $pod"
kctl -n "$NS" get "$pod" -o jsonpath='image {.spec.containers[0].image} ({.status.containerStatuses[0].imageID}), pull policy {.spec.containers[0].imagePullPolicy}
pod securityContext {.spec.securityContext}
container securityContext {.spec.containers[0].securityContext}
exit code {.status.containerStatuses[0].state.terminated.exitCode}, termination message: {.status.containerStatuses[0].state.terminated.message}'
echo "--- status.lastRun"
kctl -n "$NS" get syncjob smoke -o jsonpath='{.status.lastRun}'; echo
log "smoke check passed"
