#!/usr/bin/env bash
# Deploys the operator into the local cluster (hack/cluster/up.sh): imports the images
# built by `make images` (dist/manager.tar, dist/runner.tar) into the cluster's containerd,
# applies `kubectl kustomize config/default` (manager image checkpointed/manager:dev,
# --runner-image=checkpointed/runner:dev, imagePullPolicy IfNotPresent: nothing is pulled),
# restarts the manager when its image changed since the last deploy, and waits until the
# Deployment is Available.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
start=$SECONDS
NS=checkpointed-system
DEPLOY=checkpointed-controller-manager
[ -f "$KUBECONFIG_ADMIN" ] || die "no cluster: run 'make cluster-up' first"
BIN=$("$ROOT/hack/control-plane.sh" kubectl)

for img in manager runner; do
  [ -f "$ROOT/dist/$img.tar" ] || die "dist/$img.tar missing: run 'make images' first"
  ctr_k8s images import "$ROOT/dist/$img.tar" >/dev/null || die "import dist/$img.tar"
done
digest=$(tar -xOf "$ROOT/dist/manager.tar" index.json | grep -o 'sha256:[0-9a-f]\{64\}' | head -1)

existed=false
kctl -n "$NS" get deployment "$DEPLOY" >/dev/null 2>&1 && existed=true
# Server-side apply: the CRD is too large for the last-applied annotation.
kctl kustomize "$ROOT/config/default" | kctl apply --server-side --force-conflicts -f - >/dev/null
kctl wait --for=condition=Established crd/syncjobs.sync.checkpointed.io --timeout=30s >/dev/null
if $existed && [ "$(cat "$W/deployed-manager" 2>/dev/null)" != "$digest" ]; then
  kctl -n "$NS" rollout restart deployment "$DEPLOY" >/dev/null
  log "manager image changed ($digest): restarted"
fi
echo "$digest" >"$W/deployed-manager"
if ! kctl -n "$NS" rollout status deployment "$DEPLOY" --timeout=120s >/dev/null ||
   ! kctl -n "$NS" wait --for=condition=Available deployment "$DEPLOY" --timeout=30s >/dev/null; then
  kctl -n "$NS" get pods -o wide >&2
  kctl -n "$NS" describe pods >&2 | tail -n 30
  kctl -n "$NS" logs "deployment/$DEPLOY" --tail=30 >&2 || true
  die "the manager did not become Available"
fi
log "deployed in $((SECONDS - start))s: deployment $NS/$DEPLOY Available (manager $digest)"
