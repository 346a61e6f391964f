#!/usr/bin/env bash
# Removes what hack/cluster/deploy.sh applied (the CRD with every SyncJob, RBAC, the
# manager); waits, bounded, until it is gone.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
[ -f "$KUBECONFIG_ADMIN" ] || { log "no cluster: nothing to undeploy"; exit 0; }
BIN=$("$ROOT/hack/control-plane.sh" kubectl)
kctl kustomize "$ROOT/config/default" | kctl delete --ignore-not-found --wait --timeout=90s -f - >/dev/null
rm -f "$W/deployed-manager"
log "undeployed"
