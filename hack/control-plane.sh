#!/usr/bin/env bash
# Builds Kubernetes control-plane binaries (and etcd) from the Go module proxy into a
# per-user cache directory keyed by version, and prints that directory. Binaries already
# in the cache are reused, so only the first run on a machine pays for the build.
#
#   hack/control-plane.sh                 # kube-apiserver kube-controller-manager etcd (envtest)
#   hack/control-plane.sh kubelet ...     # any of the commands in hack/tools/tools.go, or etcd
#
# The directory is suitable as KUBEBUILDER_ASSETS.
set -euo pipefail

K8S_VERSION=v1.37.2
ETCD_VERSION=v3.7.0
here=$(cd "$(dirname "$0")" && pwd)
cache=${CHECKPOINTED_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/checkpointed}
dir="$cache/control-plane/k8s-$K8S_VERSION-etcd-$ETCD_VERSION"
mkdir -p "$dir"

want=("$@")
[ ${#want[@]} -gt 0 ] || want=(kube-apiserver kube-controller-manager etcd)

pkgs=()
for c in "${want[@]}"; do
  [ -x "$dir/$c" ] && continue
  case "$c" in
    etcd) pkgs+=(./cmd/etcd) ;;
    kube-apiserver|kube-controller-manager|kube-scheduler|kube-proxy|kubelet|kubectl) pkgs+=("k8s.io/kubernetes/cmd/$c") ;;
    *) echo "control-plane.sh: unknown component $c" >&2; exit 2 ;;
  esac
done

if [ ${#pkgs[@]} -gt 0 ]; then
  echo "control-plane.sh: building ${pkgs[*]} into $dir (first run on this machine: about 5 minutes for the envtest set, 15 for all)" >&2
  minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
  ld="-s -w"
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
  done
  tmp=$(mktemp -d "$dir/.build.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  (cd "$here/tools" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags "$ld" -o "$tmp/" "${pkgs[@]}")
  # Move into place only after the whole build succeeded, so a half build is never reused.
  for f in "$tmp"/*; do mv -f "$f" "$dir/"; done
fi
echo "$dir"
