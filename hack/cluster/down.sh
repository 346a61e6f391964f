#!/usr/bin/env bash
# Tears down the cluster hack/cluster/up.sh started and undoes what it changed on the host:
#  - stops the recorded processes in reverse start order: kubelet (then kills the containers,
#    so that nothing restarts them and their API watches do not hold up the apiserver),
#    kube-proxy, scheduler, controller-manager, apiserver, etcd, containerd; then kills any
#    shims of this containerd still left;
#  - unmounts everything mounted under the work dir and the pod network namespaces;
#  - deletes the CNI bridge and its veths, the KUBE-*, CNI-* and CHECKPOINTED-* iptables
#    chains and the rules jumping to them;
#  - removes the host paths and cgroups the kubelet created and restores the sysctls it set;
#  - deletes the work dir's state (logs/ stays for post-mortems).
# Safe to run any number of times, also after a failed or partial up. Every wait is bounded.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
start=$SECONDS
[ "$(id -u)" = 0 ] || die "needs root"
[ -d "$W" ] || { log "no work dir $W: nothing to tear down"; exit 0; }
exec 9>>"$W/lock"
flock -w 300 9 || die "another up/down holds $W/lock"

existed() { grep -qxF -- "$1" "$W/host/existing" 2>/dev/null; }

# stop NAME: SIGTERM, up to 20 s, then SIGKILL.
stop() {
  local pid
  pid=$(pid_of "$1") || { rm -f "$W/pids/$1"; return 0; }
  kill -TERM "$pid" 2>/dev/null
  for _ in $(seq 40); do [ -d "/proc/$pid" ] || break; sleep 0.5; done
  if [ -d "/proc/$pid" ]; then
    log "$1 (pid $pid) ignored SIGTERM for 20s: SIGKILL"
    kill -KILL "$pid" 2>/dev/null
    for _ in $(seq 20); do [ -d "/proc/$pid" ] || break; sleep 0.5; done
  fi
  rm -f "$W/pids/$1"
  log "stopped $1"
}

# pids_matching STRING prints the PIDs whose command line contains STRING (our own socket path).
pids_matching() {
  local p
  for p in /proc/[0-9]*; do
    cmdline_has "${p#/proc/}" "$1" && echo "${p#/proc/}"
  done
}

# kill_containers kills every container of our runc root, the processes left in the
# kubepods cgroups, and the shims serving our containerd.
kill_containers() {
  local ids id pids c
  if [ -d "$RUNC_ROOT/k8s.io" ]; then
    ids=$(runc --root "$RUNC_ROOT/k8s.io" list -q 2>/dev/null)
    for id in $ids; do runc --root "$RUNC_ROOT/k8s.io" kill --all "$id" KILL 2>/dev/null; done
    for id in $ids; do runc --root "$RUNC_ROOT/k8s.io" delete -f "$id" >/dev/null 2>&1; done
    [ -z "$ids" ] || log "killed $(echo "$ids" | wc -w) containers"
  fi
  for c in /sys/fs/cgroup/pids/kubepods /sys/fs/cgroup/memory/kubepods; do
    existed "$c" && continue
    [ -d "$c" ] || continue
    pids=$(find "$c" -name cgroup.procs -exec cat {} + 2>/dev/null)
    [ -z "$pids" ] || kill -KILL $pids 2>/dev/null
  done
  pids=$(pids_matching "-address $CONTAINERD_SOCK")
  if [ -n "$pids" ]; then
    kill -KILL $pids 2>/dev/null
    log "killed shims $(echo $pids)"
  fi
}

unmount_all() {
  local m n=0
  # Deepest first; lazily when busy.
  while read -r m; do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
    n=$((n + 1))
  done < <(awk -v w="$W/" '{ mp = $5; gsub(/\\040/, " ", mp); if (index(mp, w) == 1) print mp }' /proc/self/mountinfo | sort -r)
  for m in /run/netns/*; do
    [ -e "$m" ] || continue
    existed "netns:${m#/run/netns/}" && continue
    case "${m#/run/netns/}" in cni-*) ;; *) continue ;; esac
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
    rm -f "$m"
    n=$((n + 1))
  done
  existed /run/netns || rmdir /run/netns 2>/dev/null
  [ $n = 0 ] || log "unmounted $n mounts"
}

delete_links() {
  local l
  for l in $(ip -o link show master "$BRIDGE" 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1); do
    ip link del "$l" 2>/dev/null
  done
  if ! existed "link:$BRIDGE" && ip link show "$BRIDGE" >/dev/null 2>&1; then
    ip link del "$BRIDGE" && log "deleted $BRIDGE"
  fi
}

# clean_iptables TOOL: drops the KUBE-*, CNI-* and CHECKPOINTED-* chains and every rule
# that mentions them from all tables of TOOL (iptables, ip6tables, their -legacy forms).
clean_iptables() {
  local tool=$1 rules
  command -v "$tool-save" >/dev/null || return 0
  rules=$("$tool-save" 2>/dev/null) || return 0
  grep -qE 'KUBE-|CNI-|CHECKPOINTED-' <<<"$rules" || return 0
  grep -vE '^(:|-A |-I ).*(KUBE-|CNI-|CHECKPOINTED-)' <<<"$rules" | "$tool-restore" -w 5 &&
    log "removed the cluster's $tool chains"
}

restore_host() {
  local s v p c
  if [ -f "$W/host/sysctl" ]; then
    while read -r s v; do
      [ "$(cat "/proc/sys/$s" 2>/dev/null)" = "$v" ] || { echo "$v" >"/proc/sys/$s" && log "restored $s = $v"; }
    done <"$W/host/sysctl"
  fi
  for p in /var/log/containers /var/log/pods; do
    [ -d "$p" ] || continue
    if existed "$p"; then
      find "$p" -maxdepth 1 -type l -lname "$W/*" -delete 2>/dev/null
    else
      rm -rf "$p"
    fi
  done
  existed /var/lib/kubelet/device-plugins || rm -rf /var/lib/kubelet/device-plugins
  existed /var/lib/kubelet || rm -rf /var/lib/kubelet
  for c in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/kubepods; do
    [ -d "$c" ] || continue
    existed "$c" && continue
    find "$c" -depth -type d -exec rmdir {} \; 2>/dev/null || log "could not remove cgroup $c (still busy)"
  done
}

for ((i = ${#COMPONENTS[@]} - 1; i >= 0; i--)); do
  c=${COMPONENTS[$i]}
  stop "$c"
  # Without the kubelet nothing restarts them; their watches would only slow the apiserver's exit.
  [ "$c" = kubelet ] && kill_containers
done
kill_containers
unmount_all
delete_links
for t in iptables ip6tables iptables-legacy ip6tables-legacy; do clean_iptables "$t"; done
restore_host
# Keep logs/ (and the lock); everything else is state of this cluster.
find "$W" -mindepth 1 -maxdepth 1 ! -name logs ! -name lock -exec rm -rf {} + 2>/dev/null ||
  log "some of $W could not be removed (still mounted?)"
log "cluster down in $((SECONDS - start))s (logs kept in $W/logs)"
