#!/usr/bin/env bash
# Prints the Go packages of one test stage, one per line:
#   hack/test-packages.sh unit     # no cluster: pure tests, real PostgreSQL, in-process HTTP APIs
#   hack/test-packages.sh envtest  # tests that start a kube-apiserver + etcd (they import test/kubetest)
#   hack/test-packages.sh e2e      # the end-to-end suite on a real single-node cluster
# Every package with tests is in exactly one stage, so `make test` runs each test once.
set -euo pipefail
cd "$(dirname "$0")/.."
mod=$(go list -m)
e2e="$mod/test/e2e"
list=$(go list -f '{{.ImportPath}} {{join .TestImports " "}} {{join .XTestImports " "}}' ./...)
case "${1:-}" in
  e2e) echo "$e2e" ;;
  envtest) echo "$list" | awk -v k="$mod/test/kubetest" -v e="$e2e" '$1 != e { for (i = 2; i <= NF; i++) if ($i == k) { print $1; break } }' ;;
  unit) echo "$list" | awk -v k="$mod/test/kubetest" -v e="$e2e" '$1 != e { for (i = 2; i <= NF; i++) if ($i == k) next; print $1 }' ;;
  *) echo "usage: $0 unit|envtest|e2e" >&2; exit 2 ;;
esac
