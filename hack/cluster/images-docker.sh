#!/usr/bin/env bash
# Builds the Dockerfile's manager and runner targets with Debian's docker.io (a throwaway
# dockerd with its own data root and socket, no bridge, no iptables, legacy builder) from
# the binaries `make images` left in bin/, saves them to dist/docker/, and compares each with
# the daemon-free image in dist/ (files, modes, owners, contents, user, entrypoint, env).
# The dockerd is stopped (by its PID) and its state removed before the script exits.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
D=${CHECKPOINTED_DOCKER_DIR:-/var/tmp/checkpointed-docker}
DOCKER=/usr/bin/docker
log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

if ! command -v dockerd >/dev/null || [ ! -x "$DOCKER" ]; then
  log "installing docker.io from Debian"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null
fi
for f in bin/manager bin/runner bin/ca-certificates.crt dist/manager.tar dist/runner.tar; do
  [ -f "$f" ] || { log "$f missing: run 'make images' first"; exit 1; }
done

stop_dockerd() {
  local pid
  pid=$(cat "$D/dockerd.pid" 2>/dev/null) || pid=
  if [ -n "$pid" ] && [ -d "/proc/$pid" ]; then
    kill -TERM "$pid"
    for _ in $(seq 40); do [ -d "/proc/$pid" ] || break; sleep 0.5; done
    [ -d "/proc/$pid" ] && kill -KILL "$pid"
  fi
  awk -v d="$D/" 'index($5, d) == 1 {print $5}' /proc/self/mountinfo | sort -r | while read -r m; do
    umount "$m" 2>/dev/null || umount -l "$m"
  done
  rm -rf "$D"
}
trap stop_dockerd EXIT
stop_dockerd
mkdir -p "$D" dist/docker
start=$SECONDS
setsid dockerd --data-root "$D/root" --exec-root "$D/exec" --pidfile "$D/docker.pid" \
  --host "unix://$D/docker.sock" --bridge none --iptables=false --ip-masq=false --ip6tables=false \
  --storage-driver overlay2 >"$D/dockerd.log" 2>&1 </dev/null &
echo $! >"$D/dockerd.pid"
export DOCKER_HOST=unix://$D/docker.sock DOCKER_BUILDKIT=0
deadline=$((SECONDS + 60))
until "$DOCKER" version >/dev/null 2>&1; do
  if [ $SECONDS -ge $deadline ] || [ ! -d "/proc/$(cat "$D/dockerd.pid")" ]; then
    log "dockerd did not come up:"; tail -n 20 "$D/dockerd.log" >&2; exit 1
  fi
  sleep 0.5
done
log "dockerd $("$DOCKER" version --format '{{.Server.Version}}') up in $((SECONDS - start))s"

rc=0
for t in manager runner; do
  "$DOCKER" build -q --target "$t" -t "checkpointed/$t:dev" . >/dev/null
  "$DOCKER" save -o "dist/docker/$t.tar" "checkpointed/$t:dev"
  size=$("$DOCKER" image inspect --format '{{.Size}}' "checkpointed/$t:dev")
  log "docker build --target $t: dist/docker/$t.tar, $((size / 1024 / 1024)) MB unpacked"
  bin/imagebuild -compare "dist/$t.tar" "dist/docker/$t.tar" || rc=1
  # The daemon-free tarball is also a docker-archive: docker load takes it.
  "$DOCKER" load -q -i "dist/$t.tar" >/dev/null
  user=$("$DOCKER" image inspect --format '{{.Config.User}} {{json .Config.Entrypoint}}' "checkpointed/$t:dev")
  log "docker load dist/$t.tar: user and entrypoint $user"
done
exit $rc
