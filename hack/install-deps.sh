#!/usr/bin/env bash
# Installs what the tests need on a fresh machine, and nothing that is already there:
#  - PostgreSQL server binaries (initdb, pg_ctl, postgres) from Debian when absent;
#  - kubectl, built from source into the control-plane cache when absent from PATH;
#  - kube-apiserver, etcd and kube-controller-manager (hack/control-plane.sh, cached).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

have_pg() {
  command -v initdb >/dev/null 2>&1 && return 0
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1
}
if ! have_pg; then
  echo "install-deps: installing PostgreSQL from Debian" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq postgresql >/dev/null
fi

if ! command -v kubectl >/dev/null 2>&1; then
  dir=$("$here/control-plane.sh" kubectl)
  ln -sf "$dir/kubectl" /usr/local/bin/kubectl
fi

"$here/control-plane.sh" >/dev/null
