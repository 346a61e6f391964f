# Shared settings and helpers of the local-cluster scripts (sourced, not run).
#
# All state lives under one work dir, $W (CHECKPOINTED_CLUSTER_DIR, default
# /var/tmp/checkpointed-cluster):
#   pki/            CA, serving and client certificates, service-account key pair
#   *.kubeconfig    admin (for you), kubelet, controller-manager, scheduler, proxy
#   etcd/ containerd/ kubelet/ cni/   component state
#   pids/<name>     PID of every process up.sh started
#   host/           what the host looked like before up.sh changed it (sysctls,
#                   which host paths, interfaces and cgroups already existed)
#   logs/<name>.log component logs (kept by down.sh for post-mortems)

K8S_VERSION=v1.37.2
W=${CHECKPOINTED_CLUSTER_DIR:-/var/tmp/checkpointed-cluster}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
NODE_NAME=${CHECKPOINTED_NODE_NAME:-checkpointed-node}
POD_CIDR=10.244.0.0/24
CLUSTER_CIDR=10.244.0.0/16
SERVICE_CIDR=10.96.0.0/12
SERVICE_IP=10.96.0.1
APISERVER_PORT=${CHECKPOINTED_APISERVER_PORT:-6443}
ETCD_PORT=${CHECKPOINTED_ETCD_PORT:-12379}
ETCD_PEER_PORT=${CHECKPOINTED_ETCD_PEER_PORT:-12380}
KUBELET_PORT=10250
BRIDGE=cni0
CNI_BIN=/usr/lib/cni
PKI=$W/pki
CONTAINERD_SOCK=$W/containerd/containerd.sock
RUNC_ROOT=$W/containerd/runc
KUBECONFIG_ADMIN=$W/admin.kubeconfig
# Sysctls the kubelet, kube-proxy and the CNI bridge plugin may change; down.sh restores them.
SYSCTLS=(vm/overcommit_memory kernel/panic kernel/panic_on_oops net/ipv4/ip_forward net/ipv4/conf/all/route_localnet)
# Processes in start order; down.sh stops them in reverse.
COMPONENTS=(containerd etcd kube-apiserver kube-controller-manager kube-scheduler kube-proxy kubelet)

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# pid_of NAME prints the recorded PID of a component when that process is still running
# the component's binary, and fails otherwise.
pid_of() {
  local f=$W/pids/$1 pid
  [ -f "$f" ] || return 1
  pid=$(cat "$f")
  [ -n "$pid" ] && [ -d "/proc/$pid" ] || return 1
  cmdline_has "$pid" "$1" || return 1
  echo "$pid"
}

# cmdline_has PID STRING: whether the process's command line contains STRING.
cmdline_has() {
  local cmd
  cmd=$(tr '\0' ' ' 2>/dev/null <"/proc/$1/cmdline") || return 1
  [[ $cmd == *"$2"* ]]
}

# wait_for SECONDS WHAT CMD...: polls CMD every half second until it succeeds; fails after
# SECONDS with the message WHAT.
wait_for() {
  local secs=$1 what=$2; shift 2
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || { log "timed out after ${secs}s waiting for $what"; return 1; }
    sleep 0.5
  done
}

# node_ip prints the machine's own primary IPv4 address (the first global address not on
# the cluster's bridge), or $CHECKPOINTED_NODE_IP.
node_ip() {
  if [ -n "${CHECKPOINTED_NODE_IP:-}" ]; then echo "$CHECKPOINTED_NODE_IP"; return; fi
  ip -4 -o addr show scope global | awk -v br="$BRIDGE" '$2 != br {split($4, a, "/"); print a[1]; exit}'
}

# kctl runs kubectl v1.37.2 (built from source and cached) as the cluster's admin.
kctl() { "$BIN/kubectl" --kubeconfig "$KUBECONFIG_ADMIN" "$@"; }

# ctr_k8s runs ctr against the cluster's containerd in the CRI namespace.
ctr_k8s() { ctr --address "$CONTAINERD_SOCK" -n k8s.io "$@"; }
