#!/usr/bin/env bash
# `make demo-down`: stops the demo's PostgreSQL and brings the local cluster down (which
# undoes every change the cluster made to this machine). Safe to run repeatedly.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
"$here/postgres.sh" stop
"$here/../cluster/down.sh"
