#!/usr/bin/env bash
# Brings up a real single-node Kubernetes cluster on this machine: containerd (Debian),
# etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kube-proxy (iptables) and a
# kubelet, built from source by hack/control-plane.sh, with the locally built images from
# dist/ (make images) imported into containerd. Waits until the node is Ready and the
# default ServiceAccount exists, then prints the admin kubeconfig's path.
#
# Idempotent: components whose recorded PID still runs are left alone. Every wait is
# bounded. All state is under $CHECKPOINTED_CLUSTER_DIR (default
# /var/tmp/checkpointed-cluster); hack/cluster/down.sh undoes everything.
# Network: loopback, the machine's own address and the pod/service networks the cluster
# creates; pods get a route only to the service network, and forwarding from the pod
# bridge to anywhere else is dropped.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
start=$SECONDS
[ "$(id -u)" = 0 ] || die "needs root (containerd, kubelet, iptables)"

install_packages() {
  local missing=()
  command -v containerd >/dev/null || missing+=(containerd)
  command -v runc >/dev/null || missing+=(runc)
  [ -x "$CNI_BIN/bridge" ] || missing+=(containernetworking-plugins)
  command -v iptables >/dev/null || missing+=(iptables)
  command -v openssl >/dev/null || missing+=(openssl)
  command -v curl >/dev/null || missing+=(curl)
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]} from Debian"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

# record_host saves, once per cluster lifetime, what down.sh needs to restore the host.
record_host() {
  mkdir -p "$W/host"
  [ -f "$W/host/recorded" ] && return 0
  : >"$W/host/sysctl"
  for s in "${SYSCTLS[@]}"; do
    [ -f "/proc/sys/$s" ] && echo "$s $(cat "/proc/sys/$s")" >>"$W/host/sysctl"
  done
  : >"$W/host/existing"
  for p in /var/log/containers /var/log/pods /var/lib/kubelet /var/lib/kubelet/device-plugins /run/netns; do
    [ -e "$p" ] && echo "$p" >>"$W/host/existing"
  done
  ip link show "$BRIDGE" >/dev/null 2>&1 && echo "link:$BRIDGE" >>"$W/host/existing"
  for c in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/kubepods; do
    [ -d "$c" ] && echo "$c" >>"$W/host/existing"
  done
  ls /run/netns 2>/dev/null | sed 's|^|netns:|' >>"$W/host/existing" || true
  touch "$W/host/recorded"
}

# cert NAME CN O EXT [CA]: a key and a certificate signed by the cluster CA, or by
# $PKI/CA.crt (idempotent).
cert() {
  local name=$1 cn=$2 o=$3 ext=$4 ca=${5:-ca}
  [ -f "$PKI/$name.crt" ] && return 0
  local subj="/CN=$cn"
  [ -n "$o" ] && subj="/O=$o/CN=$cn"
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$PKI/$name.key" 2>/dev/null
  openssl req -new -key "$PKI/$name.key" -subj "$subj" -out "$PKI/$name.csr" 2>/dev/null
  printf '%b' "$ext" >"$PKI/$name.ext"
  openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/$ca.crt" -CAkey "$PKI/$ca.key" -CAcreateserial \
    -days 365 -extfile "$PKI/$name.ext" -out "$PKI/$name.crt" 2>/dev/null
  rm -f "$PKI/$name.csr"
}

pki() {
  mkdir -p "$PKI"; chmod 700 "$PKI"
  if [ ! -f "$PKI/ca.crt" ]; then
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$PKI/ca.key" 2>/dev/null
    openssl req -x509 -new -key "$PKI/ca.key" -subj "/CN=checkpointed-local-ca" -days 3650 \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
      -out "$PKI/ca.crt" 2>/dev/null
  fi
  # A separate CA for the aggregation layer's request headers, as kubeadm does.
  if [ ! -f "$PKI/front-proxy-ca.crt" ]; then
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$PKI/front-proxy-ca.key" 2>/dev/null
    openssl req -x509 -new -key "$PKI/front-proxy-ca.key" -subj "/CN=checkpointed-front-proxy-ca" -days 3650 \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
      -out "$PKI/front-proxy-ca.crt" 2>/dev/null
  fi
  if [ ! -f "$PKI/sa.key" ]; then
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$PKI/sa.key" 2>/dev/null
    openssl pkey -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub"
  fi
  local server="basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n"
  local client="basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n"
  # The node IP is in the apiserver's and kubelet's certificates: regenerate when it changed.
  if [ -f "$PKI/node-ip" ] && [ "$(cat "$PKI/node-ip")" != "$NODE_IP" ]; then
    rm -f "$PKI/apiserver.crt" "$PKI/kubelet-serving.crt"
  fi
  echo "$NODE_IP" >"$PKI/node-ip"
  cert apiserver kube-apiserver "" "${server}subjectAltName=DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:localhost,IP:$SERVICE_IP,IP:127.0.0.1,IP:$NODE_IP\n"
  cert kubelet-serving "system:node:$NODE_NAME" system:nodes "${server}subjectAltName=DNS:$NODE_NAME,IP:$NODE_IP,IP:127.0.0.1\n"
  cert apiserver-kubelet-client kube-apiserver-kubelet-client system:masters "$client"
  cert admin checkpointed-admin system:masters "$client"
  cert kubelet "system:node:$NODE_NAME" system:nodes "$client"
  cert controller-manager system:kube-controller-manager "" "$client"
  cert scheduler system:kube-scheduler "" "$client"
  cert proxy system:kube-proxy "" "$client"
  cert front-proxy-client front-proxy-client "" "$client" front-proxy-ca
  chmod 600 "$PKI"/*.key
}

# kubeconfig NAME CERT: a kubeconfig for the client certificate CERT, certificates embedded.
kubeconfig() {
  local out=$W/$1.kubeconfig cert=$2
  cat >"$out" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: checkpointed-local
  cluster:
    server: https://127.0.0.1:$APISERVER_PORT
    certificate-authority-data: $(base64 -w0 "$PKI/ca.crt")
users:
- name: $1
  user:
    client-certificate-data: $(base64 -w0 "$PKI/$cert.crt")
    client-key-data: $(base64 -w0 "$PKI/$cert.key")
contexts:
- name: checkpointed-local
  context: {cluster: checkpointed-local, user: $1}
current-context: checkpointed-local
EOF
  chmod 600 "$out"
}

write_configs() {
  mkdir -p "$W/containerd" "$W/cni/net.d" "$W/cni/ipam" "$W/kubelet/root" "$W/kubelet/pod-logs" "$W/etcd"
  for k in admin:admin kubelet:kubelet controller-manager:controller-manager scheduler:scheduler proxy:proxy; do
    kubeconfig "${k%%:*}" "${k##*:}"
  done
  cat >"$W/containerd/config.toml" <<EOF
version = 2
root = "$W/containerd/root"
state = "$W/containerd/state"
[grpc]
  address = "$CONTAINERD_SOCK"
[ttrpc]
  address = "$CONTAINERD_SOCK.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "$W/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "docker.io/checkpointed/pause:dev"
  restrict_oom_score_adj = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "$RUNC_ROOT"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$CNI_BIN"
    conf_dir = "$W/cni/net.d"
    max_conf_num = 1
EOF
  # Pods get one route, to the service network through the bridge; no default route.
  cat >"$W/cni/net.d/10-checkpointed.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "checkpointed",
  "plugins": [{
    "type": "bridge",
    "bridge": "$BRIDGE",
    "isGateway": true,
    "ipMasq": false,
    "hairpinMode": true,
    "ipam": {
      "type": "host-local",
      "ranges": [[{"subnet": "$POD_CIDR"}]],
      "routes": [{"dst": "$SERVICE_CIDR"}],
      "dataDir": "$W/cni/ipam"
    }
  }]
}
EOF
  cat >"$W/kubelet/config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_IP
port: $KUBELET_PORT
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
tlsCertFile: $PKI/kubelet-serving.crt
tlsPrivateKeyFile: $PKI/kubelet-serving.key
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $PKI/ca.crt}
authorization: {mode: Webhook}
containerRuntimeEndpoint: unix://$CONTAINERD_SOCK
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
podLogsDir: $W/kubelet/pod-logs
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard:
  memory.available: 10Mi
  nodefs.available: 1%
  nodefs.inodesFree: 1%
  imagefs.available: 1%
  imagefs.inodesFree: 1%
evictionPressureTransitionPeriod: 10s
clusterDomain: cluster.local
resolvConf: ""
maxPods: 50
serializeImagePulls: false
registerNode: true
rotateCertificates: false
serverTLSBootstrap: false
syncFrequency: 10s
fileCheckFrequency: 10s
nodeStatusUpdateFrequency: 5s
EOF
}

# start NAME CMD...: starts a component in its own session, logging to logs/NAME.log,
# unless its recorded process still runs.
start() {
  local name=$1; shift
  if pid=$(pid_of "$name"); then
    log "$name already running (pid $pid)"
    return 0
  fi
  setsid "$@" >>"$W/logs/$name.log" 2>&1 </dev/null 9>&- &
  echo $! >"$W/pids/$name"
  log "started $name (pid $!)"
}

# alive NAME fails when the component's process died (its log tail goes to stderr).
alive() {
  pid_of "$1" >/dev/null && return 0
  log "$1 exited; last lines of $W/logs/$1.log:"; tail -n 30 "$W/logs/$1.log" >&2; return 1
}

# wait_up NAME SECONDS WHAT CMD...: like wait_for, but fails at once if NAME died.
wait_up() {
  local name=$1 secs=$2 what=$3; shift 3
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    alive "$name" || return 1
    [ $SECONDS -lt $deadline ] || { log "timed out after ${secs}s waiting for $what"; tail -n 30 "$W/logs/$name.log" >&2; return 1; }
    sleep 0.5
  done
}

port_free_or_ours() { # PORT NAME
  pid_of "$2" >/dev/null && return 0
  ! ss -Htln "sport = :$1" | grep -q . || die "port $1 is in use by another process; $2 cannot start (see ss -tlnp)"
}

apiserver_ready() {
  curl -sf --max-time 2 --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key" \
    "https://127.0.0.1:$APISERVER_PORT/readyz" | grep -q ok
}

mkdir -p "$W"
exec 9>>"$W/lock"
flock -w 300 9 || die "another up/down holds $W/lock"

install_packages
BIN=$("$ROOT/hack/control-plane.sh" etcd kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl)
NODE_IP=$(node_ip)
[ -n "$NODE_IP" ] || die "no global IPv4 address on this machine; set CHECKPOINTED_NODE_IP"
for img in pause runner manager; do
  [ -f "$ROOT/dist/$img.tar" ] || die "dist/$img.tar missing: run 'make images' first"
done
# State of an earlier cluster whose processes are all gone (killed, machine restarted):
# tear it down first so no stale mount, container or sandbox survives into this one.
if [ -f "$W/host/recorded" ]; then
  any=false
  for c in "${COMPONENTS[@]}"; do pid_of "$c" >/dev/null && any=true; done
  if ! $any; then
    log "cleaning up the state of a previous cluster that is no longer running"
    flock -u 9
    "$ROOT/hack/cluster/down.sh"
    flock -w 300 9 || die "another up/down holds $W/lock"
  fi
fi
mkdir -p "$W/pids" "$W/logs"
if [ ! -f "$W/host/recorded" ]; then # a new cluster: keep only the previous cluster's logs
  rm -rf "$W/logs/previous"; mkdir -p "$W/logs/previous"
  find "$W/logs" -maxdepth 1 -name '*.log' -exec mv -t "$W/logs/previous" {} +
fi
record_host
log "work dir $W, node $NODE_NAME at $NODE_IP, binaries from $BIN"
pki
write_configs

# Traffic from pods may stay on the bridge or reach this machine; nothing is forwarded out.
iptables -w -N CHECKPOINTED-FORWARD 2>/dev/null || true
iptables -w -F CHECKPOINTED-FORWARD
iptables -w -A CHECKPOINTED-FORWARD -i "$BRIDGE" ! -o "$BRIDGE" -j DROP
iptables -w -C FORWARD -j CHECKPOINTED-FORWARD 2>/dev/null || iptables -w -I FORWARD 1 -j CHECKPOINTED-FORWARD

start containerd containerd --config "$W/containerd/config.toml"
wait_up containerd 30 "containerd" ctr --address "$CONTAINERD_SOCK" version
for img in pause runner manager; do
  ctr_k8s images import "$ROOT/dist/$img.tar" >/dev/null || die "import dist/$img.tar into containerd"
done
log "imported pause, runner and manager images"

port_free_or_ours "$ETCD_PORT" etcd
start etcd "$BIN/etcd" --name checkpointed --data-dir "$W/etcd" \
  --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
  --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
  --initial-cluster "checkpointed=http://127.0.0.1:$ETCD_PEER_PORT" --listen-metrics-urls "" \
  --unsafe-no-fsync --quota-backend-bytes 2147483648 --log-level warn
wait_up etcd 30 "etcd health" curl -sf --max-time 2 "http://127.0.0.1:$ETCD_PORT/health"

port_free_or_ours "$APISERVER_PORT" kube-apiserver
start kube-apiserver "$BIN/kube-apiserver" \
  --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
  --bind-address 0.0.0.0 --secure-port "$APISERVER_PORT" --advertise-address "$NODE_IP" \
  --service-cluster-ip-range "$SERVICE_CIDR" \
  --client-ca-file "$PKI/ca.crt" --tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" \
  --kubelet-client-certificate "$PKI/apiserver-kubelet-client.crt" --kubelet-client-key "$PKI/apiserver-kubelet-client.key" \
  --kubelet-certificate-authority "$PKI/ca.crt" --kubelet-preferred-address-types InternalIP \
  --requestheader-client-ca-file "$PKI/front-proxy-ca.crt" --requestheader-allowed-names front-proxy-client \
  --requestheader-username-headers X-Remote-User --requestheader-group-headers X-Remote-Group \
  --requestheader-extra-headers-prefix X-Remote-Extra- \
  --proxy-client-cert-file "$PKI/front-proxy-client.crt" --proxy-client-key-file "$PKI/front-proxy-client.key" \
  --service-account-issuer https://kubernetes.default.svc.cluster.local \
  --service-account-key-file "$PKI/sa.pub" --service-account-signing-key-file "$PKI/sa.key" \
  --authorization-mode Node,RBAC --allow-privileged=true --profiling=false --v=1
wait_up kube-apiserver 90 "kube-apiserver /readyz" apiserver_ready

start kube-controller-manager "$BIN/kube-controller-manager" \
  --kubeconfig "$W/controller-manager.kubeconfig" \
  --authentication-kubeconfig "$W/controller-manager.kubeconfig" --authorization-kubeconfig "$W/controller-manager.kubeconfig" \
  --bind-address 127.0.0.1 --leader-elect=false --use-service-account-credentials \
  --service-account-private-key-file "$PKI/sa.key" --root-ca-file "$PKI/ca.crt" \
  --cluster-signing-cert-file "$PKI/ca.crt" --cluster-signing-key-file "$PKI/ca.key" \
  --controllers '*,-nodeipam,-bootstrapsigner,-tokencleaner' --profiling=false --v=1
start kube-scheduler "$BIN/kube-scheduler" \
  --kubeconfig "$W/scheduler.kubeconfig" \
  --authentication-kubeconfig "$W/scheduler.kubeconfig" --authorization-kubeconfig "$W/scheduler.kubeconfig" \
  --bind-address 127.0.0.1 --leader-elect=false --profiling=false --v=1
start kube-proxy "$BIN/kube-proxy" \
  --kubeconfig "$W/proxy.kubeconfig" --proxy-mode iptables --hostname-override "$NODE_NAME" \
  --cluster-cidr "$CLUSTER_CIDR" --conntrack-max-per-core 0 \
  --conntrack-tcp-timeout-established 0 --conntrack-tcp-timeout-close-wait 0 \
  --healthz-bind-address 127.0.0.1:10256 --metrics-bind-address 127.0.0.1:10249 \
  --nodeport-addresses primary --v=1
port_free_or_ours "$KUBELET_PORT" kubelet
start kubelet "$BIN/kubelet" \
  --config "$W/kubelet/config.yaml" --kubeconfig "$W/kubelet.kubeconfig" \
  --root-dir "$W/kubelet/root" --cert-dir "$W/kubelet/pki" \
  --hostname-override "$NODE_NAME" --node-ip "$NODE_IP" --v=1

for c in kube-controller-manager kube-scheduler kube-proxy kubelet; do alive "$c" || die "$c did not start"; done
wait_up kubelet 60 "node $NODE_NAME to register" kctl get node "$NODE_NAME"
wait_up kubelet 90 "node $NODE_NAME to be Ready" kctl wait --for=condition=Ready "node/$NODE_NAME" --timeout=5s
wait_up kube-controller-manager 60 "the default ServiceAccount" kctl -n default get serviceaccount default
for c in "${COMPONENTS[@]}"; do alive "$c" || die "$c stopped"; done

log "cluster up in $((SECONDS - start))s; node $NODE_NAME Ready"
echo "export KUBECONFIG=$KUBECONFIG_ADMIN"
echo "kubectl: $BIN/kubectl"
