#!/usr/bin/env bash
# `make demo-down`: stops the demo's billing API and CRM and its PostgreSQL, and brings the
# local cluster down (which undoes every change the cluster made to this machine). Safe to
# run repeatedly. Waits while an e2e run owns the cluster (the lock `make demo` takes too).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
exec 8>>/var/tmp/checkpointed-e2e.lock
flock -w 1200 8 || { echo "an e2e run still holds /var/tmp/checkpointed-e2e.lock" >&2; exit 1; }
"$here/services.sh" stop 8>&-
"$here/postgres.sh" stop 8>&-
"$here/../cluster/down.sh" 8>&-
